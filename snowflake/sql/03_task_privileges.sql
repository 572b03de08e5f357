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
