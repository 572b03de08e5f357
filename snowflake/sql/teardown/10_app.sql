-- Teardown, first: what runs on its own and bills for it. Run as TRANSFORM (it owns the
-- app, the dbt project and the tasks), after the suspend step (12_suspend.sql) stopped
-- every root: Snowflake changes no task of a graph whose root is running, and a run
-- already in progress finishes before the task goes.
--   mempool deploy --connection NAME --teardown --confirm <% database %>
-- Never part of a deploy (tests/test_snowflake_project.py). Everything in the database
-- goes with it (the teardown's database step); what is dropped here by name is what
-- would keep spending if a later step failed.
-- https://docs.snowflake.com/en/sql-reference/sql/drop-task
-- https://docs.snowflake.com/en/sql-reference/sql/drop-streamlit
-- https://docs.snowflake.com/en/sql-reference/sql/drop-dbt-project
-- The alerts run (and bill) on their own schedule.
-- https://docs.snowflake.com/en/sql-reference/sql/drop-alert
DROP ALERT IF EXISTS <% database %>.OPS.FRESHNESS_ALERT;
DROP ALERT IF EXISTS <% database %>.OPS.BACKLOG_ALERT;
DROP ALERT IF EXISTS <% database %>.OPS.QUARANTINE_ALERT;
DROP ALERT IF EXISTS <% database %>.OPS.TASKS_ALERT;
DROP ALERT IF EXISTS <% database %>.OPS.PIPES_ALERT;
DROP ALERT IF EXISTS <% database %>.OPS.STREAMS_ALERT;
DROP ALERT IF EXISTS <% database %>.OPS.HEIGHT_GAPS_ALERT;
DROP ALERT IF EXISTS <% database %>.OPS.CREDITS_ALERT;
DROP STREAMLIT IF EXISTS <% database %>.GOLD.MEMPOOL_DASHBOARD;
-- The gold graph, its child (the dbt tests) before its root; then its idle tick.
DROP TASK IF EXISTS <% database %>.GOLD.TEST_GOLD;
DROP TASK IF EXISTS <% database %>.GOLD.REFRESH_GOLD;
DROP TASK IF EXISTS <% database %>.OPS.REFRESH_GOLD;
DROP TASK IF EXISTS <% database %>.GOLD.GOLD_TICK;
DROP DBT PROJECT IF EXISTS <% database %>.GOLD.<% dbt_project %>;
-- The silver graph; and the graph of releases before it, children before their root,
-- so no task is left pointing at a dropped predecessor.
DROP TASK IF EXISTS <% database %>.OPS.BUILD_STATS;
DROP TASK IF EXISTS <% database %>.OPS.BUILD_BLOCKS;
DROP TASK IF EXISTS <% database %>.OPS.BUILD_PRICES;
DROP TASK IF EXISTS <% database %>.OPS.BUILD_PROJECTED;
DROP TASK IF EXISTS <% database %>.OPS.LOAD_EVENTS;
DROP TASK IF EXISTS <% database %>.OPS.REFRESH_SILVER;
DROP TASK IF EXISTS <% database %>.OPS.SILVER_TICK;
