-- Tasks. Run as TRANSFORM, after the procedures and the dbt project exist; `mempool
-- deploy` suspends the root first and resumes everything last, children before roots.
--
-- The silver graph: triggered serverless tasks. The root loads whenever any RAW stream
-- has data (about once a minute: Firehose flushes every 60 s); the builders follow it.

CREATE OR REPLACE TASK <% database %>.OPS.LOAD_EVENTS
  TARGET_COMPLETION_INTERVAL = '1 MINUTE'
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
  TARGET_COMPLETION_INTERVAL = '1 MINUTE' AFTER <% database %>.OPS.LOAD_EVENTS
AS CALL <% database %>.SILVER.BUILD_STATS();

CREATE OR REPLACE TASK <% database %>.OPS.BUILD_BLOCKS
  TARGET_COMPLETION_INTERVAL = '1 MINUTE' AFTER <% database %>.OPS.LOAD_EVENTS
AS CALL <% database %>.SILVER.BUILD_BLOCKS();

CREATE OR REPLACE TASK <% database %>.OPS.BUILD_PRICES
  TARGET_COMPLETION_INTERVAL = '1 MINUTE' AFTER <% database %>.OPS.LOAD_EVENTS
AS CALL <% database %>.SILVER.BUILD_PRICES();

CREATE OR REPLACE TASK <% database %>.OPS.BUILD_PROJECTED
  TARGET_COMPLETION_INTERVAL = '1 MINUTE' AFTER <% database %>.OPS.LOAD_EVENTS
AS CALL <% database %>.SILVER.BUILD_PROJECTED();

-- Gold: the dbt project on its own schedule, not after every silver run. A build
-- each minute would keep the warehouse from ever suspending (about 24 XS credits a
-- day); every `gold_refresh_minutes` it wakes, builds, and suspends 60 s later.
-- Snowflake never overlaps two runs of one task, so builds never run concurrently
-- (the gold workflow runs this same task instead of its own dbt).
-- https://docs.snowflake.com/en/sql-reference/sql/create-task (SCHEDULE, ALLOW_OVERLAPPING_EXECUTION)
CREATE OR REPLACE TASK <% database %>.OPS.REFRESH_GOLD
  WAREHOUSE = <% warehouse %>
  SCHEDULE = '<% gold_refresh_minutes %> MINUTE'
  ALLOW_OVERLAPPING_EXECUTION = FALSE
  SUSPEND_TASK_AFTER_NUM_FAILURES = 3
  ERROR_INTEGRATION = <% error_integration %>
AS EXECUTE DBT PROJECT <% database %>.GOLD.<% dbt_project %> ARGS = 'build --target prod';
