{#
  SILVER's canonical chain, one block per height whatever SILVER holds (the first seen,
  as the chain's own rule). `where` (an extra condition, starting with `and`) limits the
  heights read. Shared by fct_blocks and Live's latest blocks.
#}
{% macro canonical_blocks(where='') -%}
select * from {{ ref('stg_silver__blocks') }}
    where is_canonical {{ where }}
    qualify row_number() over (partition by height order by first_seen_at, block_hash) = 1
{%- endmacro %}

{#
  A gold block row: `blocks` (a relation of canonical_blocks rows) with the time since
  each one's predecessor in `canonical`.
#}
{% macro blocks_with_previous(blocks, canonical) -%}
select
    b.height,
    b.block_hash,
    b.previous_block_hash,
    b.mined_at,
    b.first_seen_at,
    b.tx_count,
    b.size_bytes,
    b.weight_wu,
    b.vsize,
    b.total_fees_sat,
    {{ sat_to_btc('b.total_fees_sat') }} as total_fees_btc,
    b.median_fee_rate_sat_per_vb,
    b.min_fee_rate_sat_per_vb,
    b.p10_fee_rate_sat_per_vb,
    b.max_fee_rate_sat_per_vb,
    b.reward_sat,
    {{ sat_to_btc('b.reward_sat') }} as reward_btc,
    b.pool_name,
    b.pool_slug,
    b.match_rate_pct,
    b.mined_at_s - previous.mined_at_s as seconds_since_previous_block,
    -- The newest SILVER change this row reflects (its own block's or its predecessor's).
    {{ latest('b.updated_at', 'previous.updated_at') }} as silver_updated_at
from {{ blocks }} as b
left join {{ canonical }} as previous
    on previous.height = b.height - 1
{%- endmacro %}
