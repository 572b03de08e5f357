-- Teardown: the database (every schema, table, view, stream, stage and procedure in it,
-- whichever role owns them) and the warehouse, as SYSADMIN, which created both. A
-- dropped database stays restorable with UNDROP DATABASE for its Time Travel retention
-- (1 day by default), then Fail-safe keeps it 7 more days (storage billed, no UNDROP).
-- https://docs.snowflake.com/en/sql-reference/sql/drop-database
-- https://docs.snowflake.com/en/sql-reference/sql/drop-warehouse
DROP DATABASE IF EXISTS <% database %>;
DROP WAREHOUSE IF EXISTS <% warehouse %>;
