with prices as (

    select
        date_trunc('hour', priced_at) as hour_at,
        priced_at,
        usd_per_btc,
        row_number() over (partition by date_trunc('hour', priced_at) order by priced_at) as nth_first,
        row_number() over (partition by date_trunc('hour', priced_at) order by priced_at desc) as nth_last
    from {{ ref('fct_prices') }}
    where usd_per_btc is not null

)

select
    hour_at,
    count(*) as price_count,
    max(case when nth_first = 1 then usd_per_btc end) as open_usd_per_btc,
    max(usd_per_btc) as high_usd_per_btc,
    min(usd_per_btc) as low_usd_per_btc,
    max(case when nth_last = 1 then usd_per_btc end) as close_usd_per_btc,
    avg(usd_per_btc) as avg_usd_per_btc
from prices
group by hour_at
