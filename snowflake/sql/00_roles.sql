-- Roles, and the CI service user that redeploys. Run as SECURITYADMIN (it holds MANAGE
-- GRANTS and, through USERADMIN, CREATE ROLE and CREATE USER):
--   mempool deploy --connection NAME --only roles
-- Four roles, each with only what its part does:
--   INGEST       owns RAW: the stage, file format, tables and Snowpipe pipes.
--   TRANSFORM    owns SILVER, OPS and GOLD objects: procedures, streams, tasks, dbt, the app.
--   READ         reads GOLD and OPS, and may open the dashboard.
--   GOLD_REFRESH runs and watches the gold graph, REFRESH_GOLD and its TEST_GOLD (the gold
--                workflow), nothing else.
-- All four roll up to SYSADMIN, as Snowflake recommends for custom roles, so an
-- administrator can always manage what they own.
-- https://docs.snowflake.com/en/user-guide/security-access-control-considerations
-- The account-level task privileges are granted by ACCOUNTADMIN (03_task_privileges.sql).

CREATE ROLE IF NOT EXISTS <% ingest_role %>;
CREATE ROLE IF NOT EXISTS <% transform_role %>;
CREATE ROLE IF NOT EXISTS <% read_role %>;
CREATE ROLE IF NOT EXISTS <% gold_role %>;

GRANT ROLE <% read_role %> TO ROLE <% transform_role %>;
GRANT ROLE <% ingest_role %> TO ROLE SYSADMIN;
GRANT ROLE <% transform_role %> TO ROLE SYSADMIN;
GRANT ROLE <% gold_role %> TO ROLE SYSADMIN;

-- The user CI deploys as (`mempool deploy --skip-admin`, the deploy-snowflake
-- workflow): a service user, which signs in with a key pair only. It holds the two
-- roles every step after the administrators' runs as, and nothing else. Give it its
-- public key once: ALTER USER <% deploy_user %> SET RSA_PUBLIC_KEY = '...'.
-- https://docs.snowflake.com/en/sql-reference/sql/create-user (TYPE = SERVICE)
-- https://docs.snowflake.com/en/sql-reference/sql/grant-role
CREATE USER IF NOT EXISTS <% deploy_user %> TYPE = SERVICE DEFAULT_ROLE = <% transform_role %>
  COMMENT = 'mempool deploy --skip-admin (CI)';
GRANT ROLE <% ingest_role %> TO USER <% deploy_user %>;
GRANT ROLE <% transform_role %> TO USER <% deploy_user %>;

-- The user the gold workflow signs in as, with a key of its own: a leaked gold key may
-- start a gold build early (the task never overlaps itself) or suspend the task, and
-- cannot read a table or change a procedure, task, dbt project or the app, as the
-- deploy user's key could. Give it its public key once, as for the deploy user.
CREATE USER IF NOT EXISTS <% gold_user %> TYPE = SERVICE DEFAULT_ROLE = <% gold_role %>
  COMMENT = 'EXECUTE TASK REFRESH_GOLD (the gold workflow)';
GRANT ROLE <% gold_role %> TO USER <% gold_user %>;
