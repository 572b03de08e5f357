-- Tasks. Run as TRANSFORM, after the procedures and the dbt project exist; `mempool
-- deploy` suspends the roots first (12_suspend.sql) and resumes everything last,
-- children before roots (90_resume.sql).
-- Intervals are written as CREATE TASK's grammar gives them: '<num> { HOURS | MINUTES |
-- SECONDS }'. OVERLAP_POLICY (set on a root) replaces the deprecated
-- ALLOW_OVERLAPPING_EXECUTION; NO_OVERLAP: the next run of a root is scheduled only
-- after every task of the current run has finished.
-- https://docs.snowflake.com/en/sql-reference/sql/create-task
-- https://docs.snowflake.com/en/release-notes/2026/other/2026-03-13-tasks-overlap-policy
--
-- The silver graph: triggered serverless tasks. The root loads whenever any RAW stream
-- has data (about once a minute: Firehose flushes every 60 s); the builders follow it.

CREATE OR REPLACE TASK <% database %>.OPS.LOAD_EVENTS
  TARGET_COMPLETION_INTERVAL = '1 MINUTES'
  OVERLAP_POLICY = NO_OVERLAP
  SUSPEND_TASK_AFTER_NUM_FAILURES = 5
  ERROR_INTEGRATION = <% error_integration %>
  WHEN SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.STREAM_EVENTS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.CONVERSIONS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.BLOCKS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.PRICES_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.REST_STATS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.OVERSIZE_STRM')
AS CALL <% database %>.SILVER.LOAD_EVENTS();

CREATE OR REPLACE TASK <% database %>.OPS.BUILD_STATS
  TARGET_COMPLETION_INTERVAL = '1 MINUTES' AFTER <% database %>.OPS.LOAD_EVENTS
AS CALL <% database %>.SILVER.BUILD_STATS();

CREATE OR REPLACE TASK <% database %>.OPS.BUILD_BLOCKS
  TARGET_COMPLETION_INTERVAL = '1 MINUTES' AFTER <% database %>.OPS.LOAD_EVENTS
AS CALL <% database %>.SILVER.BUILD_BLOCKS();

CREATE OR REPLACE TASK <% database %>.OPS.BUILD_PRICES
  TARGET_COMPLETION_INTERVAL = '1 MINUTES' AFTER <% database %>.OPS.LOAD_EVENTS
AS CALL <% database %>.SILVER.BUILD_PRICES();

CREATE OR REPLACE TASK <% database %>.OPS.BUILD_PROJECTED
  TARGET_COMPLETION_INTERVAL = '1 MINUTES' AFTER <% database %>.OPS.LOAD_EVENTS
AS CALL <% database %>.SILVER.BUILD_PROJECTED();

-- Gold: the dbt project on its own schedule, not after every silver run. A build
-- each minute would keep the warehouse from ever suspending (about 24 XS credits a
-- day); every `gold_refresh_minutes` it wakes, builds, and suspends 60 s later. Runs
-- never overlap (the gold workflow runs this same task instead of its own dbt), which
-- dbt Projects on Snowflake need: one EXECUTE DBT PROJECT at a time per project.
-- The task must be in the dbt project object's database and schema, on a warehouse
-- (serverless tasks cannot run dbt projects).
-- https://docs.snowflake.com/en/user-guide/data-engineering/dbt-projects-on-snowflake-schedule-project-execution
-- https://docs.snowflake.com/en/user-guide/data-engineering/dbt-projects-on-snowflake-limitations
-- Releases before this one created it in OPS: that task goes (12_suspend.sql suspended it).
DROP TASK IF EXISTS <% database %>.OPS.REFRESH_GOLD;
CREATE OR REPLACE TASK <% database %>.GOLD.REFRESH_GOLD
  WAREHOUSE = <% warehouse %>
  SCHEDULE = '<% gold_refresh_minutes %> MINUTES'
  OVERLAP_POLICY = NO_OVERLAP
  SUSPEND_TASK_AFTER_NUM_FAILURES = 3
  ERROR_INTEGRATION = <% error_integration %>
AS EXECUTE DBT PROJECT <% database %>.GOLD.<% dbt_project %> ARGS = 'build --target prod';
