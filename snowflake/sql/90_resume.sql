-- Resume every task of the silver graph, children before the root, in one call; then
-- the scheduled gold refresh. Run as TRANSFORM (owner, with EXECUTE TASK).
-- https://docs.snowflake.com/en/sql-reference/functions/system_task_dependents_enable
SELECT SYSTEM$TASK_DEPENDENTS_ENABLE('<% database %>.OPS.LOAD_EVENTS');
ALTER TASK <% database %>.OPS.REFRESH_GOLD RESUME;
