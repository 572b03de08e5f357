-- The latest canonical blocks as SILVER has them now (fct_blocks' logic on the top
-- heights). By height, not by time: a block can take over an hour, and the tip must
-- still show. SILVER.BLOCKS holds one row per block, so the tip's lookup reads little.
{% set tip_heights = var('live_block_count') %}

with canonical as (

    {{ canonical_blocks(
        'and height >= (select max(height) from ' ~ ref('stg_silver__blocks')
        ~ ' where is_canonical) - ' ~ tip_heights) }}

),

latest as (

    -- The lowest height read is only the predecessor of the next.
    select * from canonical
    where height > (select min(height) from canonical)

)

{{ blocks_with_previous('latest', 'canonical') }}
