-- Privileges of the four roles on the warehouse, database and schemas. Run as
-- SECURITYADMIN: future grants need the global MANAGE GRANTS privilege.
--   mempool deploy --connection NAME --only grants
-- Privileges per statement are listed, with their documentation, in
-- tests/access_model.py, which checks every deploy step against these grants.

GRANT USAGE ON WAREHOUSE <% warehouse %> TO ROLE <% transform_role %>;
GRANT USAGE ON WAREHOUSE <% warehouse %> TO ROLE <% read_role %>;

GRANT USAGE ON DATABASE <% database %> TO ROLE <% ingest_role %>;
GRANT USAGE ON DATABASE <% database %> TO ROLE <% transform_role %>;
GRANT USAGE ON DATABASE <% database %> TO ROLE <% read_role %>;
GRANT USAGE ON DATABASE <% database %> TO ROLE <% gold_role %>;

-- INGEST: the landing objects and RAW tables and pipes.
GRANT USAGE, CREATE TABLE, CREATE PIPE, CREATE STAGE, CREATE FILE FORMAT
  ON SCHEMA <% database %>.RAW TO ROLE <% ingest_role %>;

-- TRANSFORM: reads RAW through its own streams; owns everything downstream.
GRANT USAGE, CREATE STREAM ON SCHEMA <% database %>.RAW TO ROLE <% transform_role %>;
GRANT SELECT ON FUTURE TABLES IN SCHEMA <% database %>.RAW TO ROLE <% transform_role %>;
GRANT USAGE, CREATE TABLE, CREATE VIEW, CREATE STREAM, CREATE PROCEDURE, CREATE STAGE
  ON SCHEMA <% database %>.SILVER TO ROLE <% transform_role %>;
GRANT USAGE, CREATE TABLE, CREATE VIEW, CREATE TASK, CREATE ALERT
  ON SCHEMA <% database %>.OPS TO ROLE <% transform_role %>;
-- The pipes alert reads each pipe's SYSTEM$PIPE_STATUS, which answers the pipe's owner
-- (INGEST) or a role with MONITOR on it; the grant on those there covers an earlier deploy's.
-- https://docs.snowflake.com/en/sql-reference/functions/system_pipe_status
GRANT MONITOR ON FUTURE PIPES IN SCHEMA <% database %>.RAW TO ROLE <% transform_role %>;
GRANT MONITOR ON ALL PIPES IN SCHEMA <% database %>.RAW TO ROLE <% transform_role %>;
GRANT USAGE, CREATE TABLE, CREATE VIEW ON SCHEMA <% database %>.STAGING TO ROLE <% transform_role %>;
-- CREATE TASK in GOLD too: the task that runs the dbt project must be in the project's
-- schema (60_tasks.sql).
GRANT USAGE, CREATE TABLE, CREATE VIEW, CREATE STAGE, CREATE DBT PROJECT, CREATE STREAMLIT,
  CREATE TASK ON SCHEMA <% database %>.GOLD TO ROLE <% transform_role %>;

-- READ: gold and the operational views, nothing upstream.
GRANT USAGE ON SCHEMA <% database %>.GOLD TO ROLE <% read_role %>;
GRANT USAGE ON SCHEMA <% database %>.OPS TO ROLE <% read_role %>;
GRANT SELECT ON FUTURE TABLES IN SCHEMA <% database %>.GOLD TO ROLE <% read_role %>;
GRANT SELECT ON FUTURE VIEWS IN SCHEMA <% database %>.GOLD TO ROLE <% read_role %>;
GRANT SELECT ON FUTURE VIEWS IN SCHEMA <% database %>.OPS TO ROLE <% read_role %>;

-- GOLD_REFRESH: EXECUTE TASK on GOLD_TICK (a request REFRESH_GOLD serves) needs OPERATE
-- on that task (or ownership); the run itself uses the owner's (TRANSFORM's) serverless
-- compute and EXECUTE TASK, so this role holds no account privilege and no warehouse.
-- MONITOR shows the tasks and their runs.
-- A future grant, not a grant on the task: every deploy's tasks step makes new gold
-- tasks (CREATE OR REPLACE), which a grant on the old one would not reach, and
-- the CI deploy user needs no grant privilege (nor this role to exist) to make it.
-- GOLD holds REFRESH_GOLD, its child TEST_GOLD and GOLD_TICK alone (tests/
-- test_deploy_access.py): the workflow runs the tick (a request for a gold run) and may
-- watch the run and the tests that follow, and nothing outside them.
-- The grant on the tasks already there covers the ones an earlier deploy made, whatever
-- the order.
-- https://docs.snowflake.com/en/sql-reference/sql/execute-task (usage notes)
GRANT USAGE ON SCHEMA <% database %>.GOLD TO ROLE <% gold_role %>;
GRANT OPERATE, MONITOR ON FUTURE TASKS IN SCHEMA <% database %>.GOLD TO ROLE <% gold_role %>;
GRANT OPERATE, MONITOR ON ALL TASKS IN SCHEMA <% database %>.GOLD TO ROLE <% gold_role %>;
