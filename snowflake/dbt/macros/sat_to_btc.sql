{#
  Satoshis as BTC, exact to the satoshi. Snowflake gives a division the scale
  max(s1, min(s1 + 6, 12)) of its dividend's scale s1: an integer column divided by 1e8
  keeps 6 decimals and rounds amounts to 100 sat. The dividend is given 8 decimals first
  (the quotient then has 12), and the result is cast to the 8 a BTC amount has.
  https://docs.snowflake.com/en/sql-reference/operators-arithmetic (division)
#}
{% macro sat_to_btc(column) -%}
    cast(cast({{ column }} as number(38, 8)) / 100000000 as number(38, 8))
{%- endmacro %}
