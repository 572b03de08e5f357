{{ config(
    materialized='incremental',
    unique_key='price_time_s',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns',
    pre_hook="{{ ensure_column('loaded_at', 'timestamp_ntz') }}"
) }}

select
    price_time_s,
    priced_at,
    source_topic,
    usd_per_btc,
    eur_per_btc,
    gbp_per_btc,
    cad_per_btc,
    chf_per_btc,
    aud_per_btc,
    jpy_per_btc,
    received_at,
    loaded_at
from {{ ref('stg_silver__prices') }}
{% if is_incremental() %}
-- What reached SILVER since the last run, whenever it was priced or received.
where loaded_at >= {{ watermark('loaded_at') }}
{% endif %}
