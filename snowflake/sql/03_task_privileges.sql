-- Account-level task privileges. Run as ACCOUNTADMIN:
--   mempool deploy --connection NAME --only task-privileges
-- Resuming and running a task graph needs EXECUTE TASK; serverless tasks (the silver
-- graph) run on Snowflake-managed compute and need EXECUTE MANAGED TASK. Snowflake's
-- task security section grants both with ACCOUNTADMIN active ("set the active role to
-- ACCOUNTADMIN before granting the account-level privileges"); no page says
-- SECURITYADMIN may.
-- https://docs.snowflake.com/en/user-guide/tasks-intro (task security)
GRANT EXECUTE MANAGED TASK ON ACCOUNT TO ROLE <% transform_role %>;
GRANT EXECUTE TASK ON ACCOUNT TO ROLE <% transform_role %>;
-- Alerts (80_alerts.sql): creating and resuming one needs EXECUTE ALERT, a serverless one
-- EXECUTE MANAGED ALERT too; only ACCOUNTADMIN may grant EXECUTE ALERT.
-- https://docs.snowflake.com/en/user-guide/alerts (granting the privileges to create alerts)
-- https://docs.snowflake.com/en/sql-reference/sql/alter-alert (usage notes)
GRANT EXECUTE ALERT ON ACCOUNT TO ROLE <% transform_role %>;
GRANT EXECUTE MANAGED ALERT ON ACCOUNT TO ROLE <% transform_role %>;
-- Each alert's action reads its condition's rows through SNOWFLAKE.ALERT.
-- GET_CONDITION_QUERY_UUID, which answers only a role granted the SNOWFLAKE database role
-- ALERT_VIEWER; without it every run that fires ends ACTION_FAILED and sends nothing.
-- https://docs.snowflake.com/en/sql-reference/functions/get_condition_query_uuid
GRANT DATABASE ROLE SNOWFLAKE.ALERT_VIEWER TO ROLE <% transform_role %>;
-- The credit views (80_alerts.sql: OPS.CREDIT_USAGE, which the credits alert reads, and
-- OPS.CREDITS_BY_KIND, which `mempool status` and the dashboard read) call usage functions
-- that answer only ACCOUNTADMIN or a role with MONITOR USAGE (credit figures, read-only;
-- no object's data): this one grant covers all four, nothing narrower is documented.
-- https://docs.snowflake.com/en/sql-reference/functions/serverless_task_history
-- https://docs.snowflake.com/en/sql-reference/functions/serverless_alert_history
-- https://docs.snowflake.com/en/sql-reference/functions/warehouse_metering_history
-- https://docs.snowflake.com/en/sql-reference/functions/pipe_usage_history
GRANT MONITOR USAGE ON ACCOUNT TO ROLE <% transform_role %>;
