{{ config(
    materialized='incremental',
    unique_key='minute_at',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns',
    pre_hook="{{ ensure_column('source_loaded_at', 'timestamp_ntz') }}"
) }}

{#
  Incremental by what reached SILVER since the last run, not by when it was received:
  a minute that gets a late row (a file delivered an hour late) is recomputed whole.
#}
{% set sources = {
    'mempool': ref('stg_silver__mempool_info'),
    'fees': ref('stg_silver__recommended_fees'),
    'inflow': ref('stg_silver__vbytes_per_second'),
} %}

{% set in_touched_minutes %}
    {% if is_incremental() %}
    where received_at >= (select min(minute_at) from touched_minutes)
        and date_trunc('minute', received_at) in (select minute_at from touched_minutes)
    {% endif %}
{% endset %}

with

{% if is_incremental() %}
touched_minutes as (

    {% for relation in sources.values() %}
    select distinct date_trunc('minute', received_at) as minute_at
    from {{ relation }}
    where loaded_at >= {{ watermark('source_loaded_at') }}
    {% if not loop.last %}union{% endif %}
    {% endfor %}

),
{% endif %}

{{ mempool_minutely(in_touched_minutes) }}
