{#
  A pre-hook for marts keyed by height beside fct_blocks: a row whose block is no longer
  fct_blocks' block at that height (a reorg left the height empty) goes; the merge
  rewrites the heights that have a block.
#}
{% macro drop_rows_of_replaced_blocks() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where height || ':' || block_hash not in (
        -- NOT IN is empty if the list holds a NULL: none may.
        select height || ':' || block_hash from {{ ref('fct_blocks') }}
        where height is not null and block_hash is not null
    )
    {%- endif -%}
{%- endmacro %}
