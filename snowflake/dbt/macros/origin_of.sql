{#
  The connection (or poll run) a record came from, read back out of its event key
  `origin_id:frame_seq:topic`: the contract forbids a colon in the topic and frame_seq is
  a number, so the origin is everything before the last two colons, whatever it holds.
#}
{% macro origin_of(event_key) -%}
    regexp_replace({{ event_key }}, ':[^:]*:[^:]*$', '')
{%- endmacro %}
