{{ config(
    materialized='incremental',
    unique_key='price_time_s',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns'
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
    received_at
from {{ ref('stg_silver__prices') }}
{% if is_incremental() %}
where received_at >= (
    select dateadd('minute', -{{ var('late_arrival_minutes') }}, coalesce(max(received_at), '1970-01-01'::timestamp_ntz))
    from {{ this }}
)
{% endif %}
