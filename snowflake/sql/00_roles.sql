-- Roles and account-level privileges. Run as SECURITYADMIN (it holds MANAGE GRANTS):
--   mempool deploy --connection NAME --only roles
-- Three roles, each with only what its part does:
--   INGEST    owns RAW: the stage, file format, tables and Snowpipe pipes.
--   TRANSFORM owns SILVER, OPS and GOLD objects: procedures, streams, tasks, dbt, the app.
--   READ      reads GOLD and OPS, and may open the dashboard.
-- All three roll up to SYSADMIN, as Snowflake recommends for custom roles, so an
-- administrator can always manage what they own.
-- https://docs.snowflake.com/en/user-guide/security-access-control-considerations

CREATE ROLE IF NOT EXISTS <% ingest_role %>;
CREATE ROLE IF NOT EXISTS <% transform_role %>;
CREATE ROLE IF NOT EXISTS <% read_role %>;

GRANT ROLE <% read_role %> TO ROLE <% transform_role %>;
GRANT ROLE <% ingest_role %> TO ROLE SYSADMIN;
GRANT ROLE <% transform_role %> TO ROLE SYSADMIN;

-- Serverless tasks run on Snowflake-managed compute; resuming and running a task
-- graph needs EXECUTE TASK. Both are account-level privileges.
GRANT EXECUTE MANAGED TASK ON ACCOUNT TO ROLE <% transform_role %>;
GRANT EXECUTE TASK ON ACCOUNT TO ROLE <% transform_role %>;
