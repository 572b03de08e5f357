-- The last step: resume the silver graph (one task, REFRESH_SILVER) and its idle tick
-- (SILVER_TICK); gold's idle tick (GOLD_TICK); then the gold graph, children before the
-- root, in one call (REFRESH_GOLD and its child TEST_GOLD: ALTER TASK ... RESUME on the
-- root alone would leave the tests suspended).
-- What arrived while the graph was suspended waits in the streams and is loaded by the
-- new code at the first run. Run as TRANSFORM (owner, with EXECUTE TASK).
-- https://docs.snowflake.com/en/sql-reference/functions/system_task_dependents_enable
SELECT SYSTEM$TASK_DEPENDENTS_ENABLE('<% database %>.OPS.REFRESH_SILVER');
SELECT SYSTEM$TASK_DEPENDENTS_ENABLE('<% database %>.OPS.SILVER_TICK');
-- A request now: what waited in the streams during the deploy (on a first deploy, what
-- landed before it) is loaded at the first trigger, not at the first tick.
INSERT INTO <% database %>.OPS.SILVER_REQUESTS (REQUESTED_AT, REQUESTED_BY)
  SELECT SYSDATE(), 'DEPLOY';
SELECT SYSTEM$TASK_DEPENDENTS_ENABLE('<% database %>.GOLD.GOLD_TICK');
-- And one for gold: the first run after a deploy builds the new models (and tests them)
-- at its first schedule, not at the first idle tick.
INSERT INTO <% database %>.OPS.GOLD_REQUESTS (REQUESTED_AT, REQUESTED_BY)
  SELECT SYSDATE(), 'DEPLOY';
SELECT SYSTEM$TASK_DEPENDENTS_ENABLE('<% database %>.GOLD.REFRESH_GOLD');
-- The alerts (80_alerts.sql), created suspended: resuming one needs EXECUTE ALERT (and, for
-- a serverless one, EXECUTE MANAGED ALERT) held by its owner.
-- https://docs.snowflake.com/en/sql-reference/sql/alter-alert
ALTER ALERT <% database %>.OPS.FRESHNESS_ALERT RESUME;
ALTER ALERT <% database %>.OPS.BACKLOG_ALERT RESUME;
ALTER ALERT <% database %>.OPS.QUARANTINE_ALERT RESUME;
ALTER ALERT <% database %>.OPS.TASKS_ALERT RESUME;
ALTER ALERT <% database %>.OPS.PIPES_ALERT RESUME;
ALTER ALERT <% database %>.OPS.STREAMS_ALERT RESUME;
ALTER ALERT <% database %>.OPS.HEIGHT_GAPS_ALERT RESUME;
ALTER ALERT <% database %>.OPS.CREDITS_ALERT RESUME;
