-- Account-level objects: roles, warehouse, database and schemas, least-privilege grants.
-- Run once as an administrator (SECURITYADMIN/SYSADMIN), e.g.:
--   snow sql -f snowflake/sql/00_account.sql -D database=MEMPOOL -D warehouse=MEMPOOL_WH
-- Three roles: INGEST loads RAW (Snowpipe), TRANSFORM runs procedures, tasks and dbt,
-- READ serves the dashboard and analysts (GOLD and OPS only).

CREATE ROLE IF NOT EXISTS <% database %>_INGEST;
CREATE ROLE IF NOT EXISTS <% database %>_TRANSFORM;
CREATE ROLE IF NOT EXISTS <% database %>_READ;
GRANT ROLE <% database %>_READ TO ROLE <% database %>_TRANSFORM;

-- Auto-suspend after a minute: tasks are serverless; only dbt and the dashboard wake it.
CREATE WAREHOUSE IF NOT EXISTS <% warehouse %>
  WAREHOUSE_SIZE = XSMALL AUTO_SUSPEND = 60 AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE;
GRANT USAGE ON WAREHOUSE <% warehouse %> TO ROLE <% database %>_TRANSFORM;
GRANT USAGE ON WAREHOUSE <% warehouse %> TO ROLE <% database %>_READ;

CREATE DATABASE IF NOT EXISTS <% database %>;
CREATE SCHEMA IF NOT EXISTS <% database %>.RAW;
CREATE SCHEMA IF NOT EXISTS <% database %>.SILVER;
CREATE SCHEMA IF NOT EXISTS <% database %>.GOLD;
CREATE SCHEMA IF NOT EXISTS <% database %>.OPS;

GRANT USAGE ON DATABASE <% database %> TO ROLE <% database %>_INGEST;
GRANT USAGE ON SCHEMA <% database %>.RAW TO ROLE <% database %>_INGEST;
GRANT INSERT, SELECT ON FUTURE TABLES IN SCHEMA <% database %>.RAW TO ROLE <% database %>_INGEST;

GRANT USAGE ON DATABASE <% database %> TO ROLE <% database %>_TRANSFORM;
GRANT USAGE, CREATE TABLE, CREATE VIEW, CREATE STREAM, CREATE TASK, CREATE PROCEDURE
  ON SCHEMA <% database %>.SILVER TO ROLE <% database %>_TRANSFORM;
GRANT USAGE, CREATE TABLE, CREATE VIEW ON SCHEMA <% database %>.GOLD TO ROLE <% database %>_TRANSFORM;
GRANT USAGE, CREATE TABLE, CREATE VIEW ON SCHEMA <% database %>.OPS TO ROLE <% database %>_TRANSFORM;
GRANT USAGE ON SCHEMA <% database %>.RAW TO ROLE <% database %>_TRANSFORM;
GRANT SELECT ON FUTURE TABLES IN SCHEMA <% database %>.RAW TO ROLE <% database %>_TRANSFORM;
GRANT EXECUTE MANAGED TASK ON ACCOUNT TO ROLE <% database %>_TRANSFORM;

GRANT USAGE ON DATABASE <% database %> TO ROLE <% database %>_READ;
GRANT USAGE ON SCHEMA <% database %>.GOLD TO ROLE <% database %>_READ;
GRANT USAGE ON SCHEMA <% database %>.OPS TO ROLE <% database %>_READ;
GRANT SELECT ON FUTURE TABLES IN SCHEMA <% database %>.GOLD TO ROLE <% database %>_READ;
GRANT SELECT ON FUTURE VIEWS IN SCHEMA <% database %>.GOLD TO ROLE <% database %>_READ;
GRANT SELECT ON FUTURE VIEWS IN SCHEMA <% database %>.OPS TO ROLE <% database %>_READ;
