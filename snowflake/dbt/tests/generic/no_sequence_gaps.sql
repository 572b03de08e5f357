{# Every value follows the previous one by exactly 1 (for example, block heights). #}
{% test no_sequence_gaps(model, column_name) %}
select {{ column_name }}, previous_value
from (
    select {{ column_name }},
           lag({{ column_name }}) over (order by {{ column_name }}) as previous_value
    from {{ model }}
) ordered
where previous_value is not null and {{ column_name }} <> previous_value + 1
{% endtest %}
