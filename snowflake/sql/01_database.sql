-- The warehouse, the database and its schemas. Run as SYSADMIN:
--   mempool deploy --connection NAME --only database

-- Auto-suspend after a minute: the builders are serverless tasks; only the gold refresh
-- and the dashboard wake the warehouse.
CREATE WAREHOUSE IF NOT EXISTS <% warehouse %>
  WAREHOUSE_SIZE = XSMALL AUTO_SUSPEND = 60 AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE;

CREATE DATABASE IF NOT EXISTS <% database %>;
CREATE SCHEMA IF NOT EXISTS <% database %>.RAW;
CREATE SCHEMA IF NOT EXISTS <% database %>.SILVER;
CREATE SCHEMA IF NOT EXISTS <% database %>.OPS;
-- dbt's staging views live in STAGING; created here so dbt never needs CREATE SCHEMA.
CREATE SCHEMA IF NOT EXISTS <% database %>.STAGING;
CREATE SCHEMA IF NOT EXISTS <% database %>.GOLD;
