-- The task graph: triggered serverless tasks. The root loads whenever any RAW stream
-- has data; the builders run after it. Deploy order: suspend the root, (re)create,
-- resume the children, then the root last:
--   ALTER TASK <% database %>.OPS.LOAD_EVENTS SUSPEND;  (if it exists)
--   snow sql -f snowflake/sql/60_tasks.sql -D database=... -D error_integration=...
--   SELECT SYSTEM$TASK_DEPENDENTS_ENABLE('<% database %>.OPS.LOAD_EVENTS');

CREATE OR REPLACE TASK <% database %>.OPS.LOAD_EVENTS
  TARGET_COMPLETION_INTERVAL = '1 MINUTE'
  SUSPEND_TASK_AFTER_NUM_FAILURES = 5
  ERROR_INTEGRATION = <% error_integration %>
  WHEN SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.STREAM_EVENTS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.CONVERSIONS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.BLOCKS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.PRICES_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.REST_STATS_STRM')
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

-- Gold: the dbt project (deployed with `snow dbt deploy MEMPOOL_DBT`) after every
-- builder. EXECUTE DBT PROJECT needs a warehouse, so this task is not serverless.
CREATE OR REPLACE TASK <% database %>.OPS.REFRESH_GOLD
  WAREHOUSE = <% warehouse %>
  AFTER <% database %>.OPS.BUILD_STATS, <% database %>.OPS.BUILD_BLOCKS,
        <% database %>.OPS.BUILD_PRICES, <% database %>.OPS.BUILD_PROJECTED
AS EXECUTE DBT PROJECT <% database %>.GOLD.MEMPOOL_DBT ARGS = 'build --target prod';
