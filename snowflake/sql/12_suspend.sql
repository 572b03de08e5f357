-- Suspend every task root before anything the tasks run changes: an upgrade evolves
-- SILVER, replaces the procedures and the dbt project, then the graph, and resumes it
-- last (90_resume.sql). Live tasks never run new code on the old tables or old code on
-- half-changed ones, and Snowflake refuses to change a graph whose root is not
-- suspended. A run already in progress finishes; new runs wait for the resume, and
-- the streams keep what arrives meanwhile. Run as TRANSFORM, the first step after the
-- administrators' (and the first of `--skip-admin`); harmless on a first deploy. The
-- teardown (`--teardown`) runs it first too, before it drops the tasks.
-- https://docs.snowflake.com/en/user-guide/tasks-graphs (modifying a task graph)
-- https://docs.snowflake.com/en/sql-reference/sql/alter-task
ALTER TASK IF EXISTS <% database %>.OPS.REFRESH_SILVER SUSPEND;
ALTER TASK IF EXISTS <% database %>.OPS.SILVER_TICK SUSPEND;
ALTER TASK IF EXISTS <% database %>.GOLD.GOLD_TICK SUSPEND;
-- The silver graph's root in releases before REFRESH_SILVER (dropped by 60_tasks.sql).
ALTER TASK IF EXISTS <% database %>.OPS.LOAD_EVENTS SUSPEND;
ALTER TASK IF EXISTS <% database %>.GOLD.REFRESH_GOLD SUSPEND;
-- Its child, the dbt tests (a child is suspended once its root is): the graph is wholly
-- stopped until the resume step enables it again with the root.
ALTER TASK IF EXISTS <% database %>.GOLD.TEST_GOLD SUSPEND;
-- Where releases before the dbt task moved to GOLD created it (dropped by 60_tasks.sql).
ALTER TASK IF EXISTS <% database %>.OPS.REFRESH_GOLD SUSPEND;
-- The alerts too: while the deploy changes what they watch, they would report its
-- transitions (a suspended graph, a table being replaced); resumed last, with the tasks.
ALTER ALERT IF EXISTS <% database %>.OPS.FRESHNESS_ALERT SUSPEND;
ALTER ALERT IF EXISTS <% database %>.OPS.BACKLOG_ALERT SUSPEND;
ALTER ALERT IF EXISTS <% database %>.OPS.QUARANTINE_ALERT SUSPEND;
ALTER ALERT IF EXISTS <% database %>.OPS.TASKS_ALERT SUSPEND;
ALTER ALERT IF EXISTS <% database %>.OPS.PIPES_ALERT SUSPEND;
ALTER ALERT IF EXISTS <% database %>.OPS.STREAMS_ALERT SUSPEND;
ALTER ALERT IF EXISTS <% database %>.OPS.HEIGHT_GAPS_ALERT SUSPEND;
ALTER ALERT IF EXISTS <% database %>.OPS.CREDITS_ALERT SUSPEND;
