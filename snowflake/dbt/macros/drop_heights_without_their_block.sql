{#
  fct_blocks' pre-hook: a height whose gold block SILVER no longer calls canonical, with
  no canonical block to replace it, would keep a stale block forever (the merge only
  writes heights that have one). Runs before the watermark moves.
#}
{% macro drop_heights_without_their_block() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where block_hash in (
        select block_hash from {{ ref('stg_silver__blocks') }}
        where not is_canonical and updated_at >= {{ watermark('silver_updated_at') }}
    )
    {%- endif -%}
{%- endmacro %}
