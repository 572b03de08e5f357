-- Suspend the task roots before the graph changes (Snowflake refuses to change a
-- graph whose root is running). Run as TRANSFORM; harmless on a first deploy.
-- https://docs.snowflake.com/en/user-guide/tasks-graphs (modifying a task graph)
ALTER TASK IF EXISTS <% database %>.OPS.LOAD_EVENTS SUSPEND;
ALTER TASK IF EXISTS <% database %>.OPS.REFRESH_GOLD SUSPEND;
