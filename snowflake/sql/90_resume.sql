-- The last step: resume every task of the silver graph, children before the root, in
-- one call; then the scheduled gold refresh. What arrived while the graph was
-- suspended waits in the streams and is loaded by the new code at the first run. Run as
-- TRANSFORM (owner, with EXECUTE TASK).
-- https://docs.snowflake.com/en/sql-reference/functions/system_task_dependents_enable
SELECT SYSTEM$TASK_DEPENDENTS_ENABLE('<% database %>.OPS.LOAD_EVENTS');
ALTER TASK <% database %>.GOLD.REFRESH_GOLD RESUME;
