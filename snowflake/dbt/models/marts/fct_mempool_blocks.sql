{{ config(
    materialized='incremental',
    unique_key='minute_at',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook=[
        "{{ ensure_column('source_loaded_at', 'timestamp_ntz') }}",
        "{{ ensure_column('total_fees_btc', 'number(38, 8)', sat_to_btc('total_fees_sat')) }}",
    ]
) }}

-- The projected blocks as they stood at the end of each minute: the strip of fee bands
-- mempool.space draws, kept as history at one snapshot a minute. A minute is replaced
-- whole (delete+insert by minute): a later frame with fewer projected blocks leaves
-- none of the earlier frame's extra blocks behind.
{% set in_touched_minutes %}
    {% if is_incremental() %}
    where received_at >= (select min(minute_at) from touched_minutes)
        and date_trunc('minute', received_at) in (select minute_at from touched_minutes)
    {% endif %}
{% endset %}

with

{% if is_incremental() %}
touched_minutes as (

    select distinct date_trunc('minute', received_at) as minute_at
    from {{ ref('stg_silver__mempool_blocks') }}
    where loaded_at >= {{ watermark('source_loaded_at') }}

),
{% endif %}

{{ mempool_blocks_per_minute(in_touched_minutes) }}

select * from mempool_blocks_per_minute
