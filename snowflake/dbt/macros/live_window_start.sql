{#
  Where Live's views start reading SILVER: `live_window_hours` before the warehouse's
  clock. A bare `column >= live_window_start()` keeps the filter prunable: SILVER is
  loaded in time order, so its micro-partitions' RECEIVED_AT ranges skip all but the
  newest few. A macro so unit tests can pin the clock (overrides: macros).
#}
{% macro live_window_start() -%}
    dateadd('hour', -{{ var('live_window_hours') }}, sysdate())
{%- endmacro %}
