-- Alerts: what tells the operator the pipeline stopped. Run as TRANSFORM, after every
-- object they watch exists; created suspended, resumed by the last step (90_resume.sql).
--   mempool deploy --connection NAME --only alerts
-- Serverless (no WAREHOUSE): they run on Snowflake-managed compute, so the warehouse
-- stays asleep; the owner needs EXECUTE ALERT and EXECUTE MANAGED ALERT on the account
-- (03_task_privileges.sql) and CREATE ALERT on OPS (02_grants.sql).
-- https://docs.snowflake.com/en/sql-reference/sql/create-alert
-- https://docs.snowflake.com/en/user-guide/alerts (serverless alerts, privileges)
--
-- Each alert's condition is a SELECT of (OBJECT_NAME, FIGURE): the objects in trouble
-- and the figure behind it. `mempool status` (its `alerts` check) reads these very
-- conditions from SHOW ALERTS (its `condition` column, `state` started or suspended) and
-- runs them, so the status and the alerts agree. The action sends one JSON message
-- through the task-error SNS integration, built from the condition's rows: the alert,
-- every object with its figure, and the runbook section (docs/runbook.md#<alert name in
-- lower case>).
-- The action is the form Snowflake documents for reading the condition's rows: a
-- Snowflake Scripting block that selects from RESULT_SCAN(GET_CONDITION_QUERY_UUID())
-- into a variable, then CALLs SYSTEM$SEND_SNOWFLAKE_NOTIFICATION with it. No page shows
-- RESULT_SCAN of the condition inside a CALL argument, and CREATE ALERT checks neither
-- condition nor action: a form that does not run would deploy cleanly and end every
-- run ACTION_FAILED. The block is passed to EXECUTE IMMEDIATE as a $$ string because
-- `snow sql -f` (like SnowSQL and the connector's execute_string) splits a bare
-- BEGIN ... END at its first semicolon; a $$ string it keeps whole.
-- https://docs.snowflake.com/en/user-guide/alerts (checking the results of the condition)
-- https://docs.snowflake.com/en/developer-guide/snowflake-scripting/running-examples
-- https://docs.snowflake.com/en/sql-reference/sql/alter-alert (usage notes: no validation)
-- https://docs.snowflake.com/en/user-guide/notifications/snowflake-notifications
-- GET_CONDITION_QUERY_UUID answers only a role granted the SNOWFLAKE.ALERT_VIEWER database
-- role: TRANSFORM, the alerts' owner, is (03_task_privileges.sql).
-- https://docs.snowflake.com/en/sql-reference/functions/get_condition_query_uuid
-- A failed condition (CONDITION_FAILED) runs no action, so it sends nothing: OPS.ALERT_RUNS
-- and `mempool status` (the alerts check) are where it shows.
--
-- Thresholds live in OPS.ALERT_THRESHOLDS, the one place alerts and status read them.
-- A deploy adds the thresholds it does not find and keeps the values an operator set:
--   UPDATE <% database %>.OPS.ALERT_THRESHOLDS SET VALUE = 5 WHERE NAME = 'QUARANTINED_PER_DAY'
CREATE TABLE IF NOT EXISTS <% database %>.OPS.ALERT_THRESHOLDS (
  NAME VARCHAR, VALUE FLOAT, MEANING VARCHAR);
INSERT INTO <% database %>.OPS.ALERT_THRESHOLDS (NAME, VALUE, MEANING)
SELECT d.NAME, d.VALUE, d.MEANING FROM (
  SELECT 'BACKLOG_EVENTS' AS NAME, 0 AS VALUE,
         'events a builder may hold unfinished (OPS.BUILDER_BACKLOG)' AS MEANING
  UNION ALL SELECT 'QUARANTINED_PER_DAY', 0,
         'records quarantined in the last 24 hours (a healthy feed sends none)'
  UNION ALL SELECT 'TASK_FAILED_RUNS', 1,
         'consecutive failed runs of a task, its latest included'
  UNION ALL SELECT 'PIPE_STALL_MINUTES', 30,
         'minutes a pipe may hold pending files without loading one'
  UNION ALL SELECT 'PIPE_LOAD_ERRORS_PER_DAY', 0,
         'lines or files a pipe rejected in the last 24 hours (COPY_HISTORY)'
  -- A stream goes stale 14 days (MAX_DATA_EXTENSION_TIME_IN_DAYS, its default) after its
  -- offset; two days before that, as the status check warns.
  UNION ALL SELECT 'STREAM_OFFSET_DAYS', 12,
         'days a stream offset may stand still (stale after 14 by default)'
  UNION ALL SELECT 'HEIGHT_GAPS', 0,
         'runs of heights with no canonical block (SILVER.BLOCK_GAPS)'
  -- About twice what docs/deploy.md's cost table estimates for the larger source, the
  -- silver task (≈ 1.4 credits a day at the defaults; tests/test_budget.py keeps them
  -- apart): an alert for a run away, not for the bill as planned.
  UNION ALL SELECT 'SERVERLESS_CREDITS_PER_DAY', 3,
         'serverless task credits in the last 24 hours'
) d
WHERE d.NAME NOT IN (SELECT NAME FROM <% database %>.OPS.ALERT_THRESHOLDS);

-- What only Snowflake's metadata knows, as views the conditions read (the local runtime
-- answers each from its own records, with these columns). An alert runs as its owner
-- (TRANSFORM, who owns these views too and holds MONITOR on the pipes, MONITOR USAGE and
-- owns the alerts ALERT_HISTORY answers for), so the conditions see what TRANSFORM sees.
-- A role that reads the views without those privileges (READ, from the dashboard) may
-- get errors or fewer rows: no page says whether a metadata function in a view answers
-- for the view's owner or for the role querying it.
-- Each pipe's state and pending files (SYSTEM$PIPE_STATUS: the pipe's owner or a role
-- with MONITOR on it, granted in 02_grants.sql) and the lines it rejected in the last
-- day (COPY_HISTORY: USAGE on the schema and any privilege on the table).
-- https://docs.snowflake.com/en/sql-reference/functions/system_pipe_status
-- https://docs.snowflake.com/en/sql-reference/functions/copy_history
CREATE OR REPLACE VIEW <% database %>.OPS.PIPE_HEALTH AS
WITH status AS (
  SELECT 'RAW.STREAM_EVENTS_PIPE' AS PIPE_NAME, 'STREAM_EVENTS' AS TABLE_NAME,
         PARSE_JSON(SYSTEM$PIPE_STATUS('<% database %>.RAW.STREAM_EVENTS_PIPE')) AS S
  UNION ALL SELECT 'RAW.CONVERSIONS_PIPE', 'CONVERSIONS',
         PARSE_JSON(SYSTEM$PIPE_STATUS('<% database %>.RAW.CONVERSIONS_PIPE'))
  UNION ALL SELECT 'RAW.BLOCKS_PIPE', 'BLOCKS',
         PARSE_JSON(SYSTEM$PIPE_STATUS('<% database %>.RAW.BLOCKS_PIPE'))
  UNION ALL SELECT 'RAW.PRICES_PIPE', 'PRICES',
         PARSE_JSON(SYSTEM$PIPE_STATUS('<% database %>.RAW.PRICES_PIPE'))
  UNION ALL SELECT 'RAW.REST_STATS_PIPE', 'REST_STATS',
         PARSE_JSON(SYSTEM$PIPE_STATUS('<% database %>.RAW.REST_STATS_PIPE'))
  UNION ALL SELECT 'RAW.OVERSIZE_PIPE', 'OVERSIZE',
         PARSE_JSON(SYSTEM$PIPE_STATUS('<% database %>.RAW.OVERSIZE_PIPE'))
), errors AS (
  SELECT TABLE_NAME, SUM(ERROR_COUNT) AS LOAD_ERRORS FROM (
    SELECT TABLE_NAME, ERROR_COUNT FROM TABLE(<% database %>.INFORMATION_SCHEMA.COPY_HISTORY(
      TABLE_NAME => '<% database %>.RAW.STREAM_EVENTS', START_TIME => DATEADD(HOUR, -24, CURRENT_TIMESTAMP())))
    UNION ALL SELECT TABLE_NAME, ERROR_COUNT FROM TABLE(<% database %>.INFORMATION_SCHEMA.COPY_HISTORY(
      TABLE_NAME => '<% database %>.RAW.CONVERSIONS', START_TIME => DATEADD(HOUR, -24, CURRENT_TIMESTAMP())))
    UNION ALL SELECT TABLE_NAME, ERROR_COUNT FROM TABLE(<% database %>.INFORMATION_SCHEMA.COPY_HISTORY(
      TABLE_NAME => '<% database %>.RAW.BLOCKS', START_TIME => DATEADD(HOUR, -24, CURRENT_TIMESTAMP())))
    UNION ALL SELECT TABLE_NAME, ERROR_COUNT FROM TABLE(<% database %>.INFORMATION_SCHEMA.COPY_HISTORY(
      TABLE_NAME => '<% database %>.RAW.PRICES', START_TIME => DATEADD(HOUR, -24, CURRENT_TIMESTAMP())))
    UNION ALL SELECT TABLE_NAME, ERROR_COUNT FROM TABLE(<% database %>.INFORMATION_SCHEMA.COPY_HISTORY(
      TABLE_NAME => '<% database %>.RAW.REST_STATS', START_TIME => DATEADD(HOUR, -24, CURRENT_TIMESTAMP())))
    UNION ALL SELECT TABLE_NAME, ERROR_COUNT FROM TABLE(<% database %>.INFORMATION_SCHEMA.COPY_HISTORY(
      TABLE_NAME => '<% database %>.RAW.OVERSIZE', START_TIME => DATEADD(HOUR, -24, CURRENT_TIMESTAMP())))
  ) h GROUP BY TABLE_NAME
)
SELECT status.PIPE_NAME,
       status.S:executionState::VARCHAR AS EXECUTION_STATE,
       COALESCE(status.S:pendingFileCount::NUMBER, 0) AS PENDING_FILES,
       CONVERT_TIMEZONE('UTC', status.S:lastIngestedTimestamp::TIMESTAMP_LTZ)::TIMESTAMP_NTZ
         AS LAST_INGESTED_AT,
       COALESCE(errors.LOAD_ERRORS, 0) AS LOAD_ERRORS
FROM status LEFT JOIN errors ON errors.TABLE_NAME = status.TABLE_NAME;

-- When each stream's offset was last moved (the table version it stands at).
-- https://docs.snowflake.com/en/sql-reference/functions/system_stream_get_table_timestamp
-- The alert warns two days before a stream goes stale; once stale, the function's page
-- does not say what it returns. If it errors, the whole view does, STREAMS_ALERT ends
-- CONDITION_FAILED (which sends nothing) and the status alerts check reports it:
-- docs/runbook.md#streams_alert says to read SHOW STREAMS' `stale` column then.
CREATE OR REPLACE VIEW <% database %>.OPS.STREAM_OFFSETS AS
SELECT STREAM_NAME, TO_TIMESTAMP_NTZ(SYSTEM$STREAM_GET_TABLE_TIMESTAMP(FULL_NAME), 9) AS OFFSET_AT
FROM (
  SELECT 'RAW.STREAM_EVENTS_STRM' AS STREAM_NAME, '<% database %>.RAW.STREAM_EVENTS_STRM' AS FULL_NAME
  UNION ALL SELECT 'RAW.CONVERSIONS_STRM', '<% database %>.RAW.CONVERSIONS_STRM'
  UNION ALL SELECT 'RAW.BLOCKS_STRM', '<% database %>.RAW.BLOCKS_STRM'
  UNION ALL SELECT 'RAW.PRICES_STRM', '<% database %>.RAW.PRICES_STRM'
  UNION ALL SELECT 'RAW.REST_STATS_STRM', '<% database %>.RAW.REST_STATS_STRM'
  UNION ALL SELECT 'RAW.OVERSIZE_STRM', '<% database %>.RAW.OVERSIZE_STRM'
  UNION ALL SELECT 'SILVER.EVENTS_STATS_STRM', '<% database %>.SILVER.EVENTS_STATS_STRM'
  UNION ALL SELECT 'SILVER.EVENTS_BLOCKS_STRM', '<% database %>.SILVER.EVENTS_BLOCKS_STRM'
  UNION ALL SELECT 'SILVER.EVENTS_PRICES_STRM', '<% database %>.SILVER.EVENTS_PRICES_STRM'
  UNION ALL SELECT 'SILVER.EVENTS_PROJECTED_STRM', '<% database %>.SILVER.EVENTS_PROJECTED_STRM'
  UNION ALL SELECT 'SILVER.REQUESTS_STRM', '<% database %>.SILVER.REQUESTS_STRM'
  UNION ALL SELECT 'SILVER.GOLD_REQUESTS_STRM', '<% database %>.SILVER.GOLD_REQUESTS_STRM'
) s;

-- Serverless credits per hour over the last day: the serverless tasks', and the alerts'
-- own (serverless alerts bill apart from tasks, in SERVERLESS_ALERT_HISTORY). Both
-- functions answer only ACCOUNTADMIN or a role with the global MONITOR USAGE privilege
-- (granted to TRANSFORM in 03_task_privileges.sql), account-wide: with MONITOR USAGE a
-- role sees per-object credits but not object names, so nothing here filters by name.
-- DATE_RANGE_END is given because its documented default is CURRENT_DATE, midnight:
-- without it today's hours would be left out. The warehouse's credits and Snowpipe's
-- are in OPS.CREDITS_BY_KIND below; this view is what CREDITS_ALERT holds to the budget.
-- https://docs.snowflake.com/en/sql-reference/functions/serverless_task_history
-- https://docs.snowflake.com/en/sql-reference/functions/serverless_alert_history
CREATE OR REPLACE VIEW <% database %>.OPS.CREDIT_USAGE AS
SELECT 'serverless tasks' AS SOURCE,
       CONVERT_TIMEZONE('UTC', START_TIME)::TIMESTAMP_NTZ AS START_AT,
       CREDITS_USED::FLOAT AS CREDITS
FROM TABLE(<% database %>.INFORMATION_SCHEMA.SERVERLESS_TASK_HISTORY(
       DATE_RANGE_START => DATEADD(HOUR, -24, CURRENT_TIMESTAMP()),
       DATE_RANGE_END => CURRENT_TIMESTAMP()))
UNION ALL
SELECT 'serverless alerts' AS SOURCE,
       CONVERT_TIMEZONE('UTC', START_TIME)::TIMESTAMP_NTZ AS START_AT,
       CREDITS_USED::FLOAT AS CREDITS
FROM TABLE(<% database %>.INFORMATION_SCHEMA.SERVERLESS_ALERT_HISTORY(
       DATE_RANGE_START => DATEADD(HOUR, -24, CURRENT_TIMESTAMP()),
       DATE_RANGE_END => CURRENT_TIMESTAMP()));

-- Credits by kind over the last 30 days, one row per kind and usage interval, times in
-- UTC: what `mempool status` (its credits check) and the health page's cost panel read.
-- Kept apart from CREDIT_USAGE so that a failure here (a range a function refuses) never
-- fails CREDITS_ALERT's condition. Every function below answers only ACCOUNTADMIN or a
-- role with MONITOR USAGE, which TRANSFORM (the view's owner and the dashboard's) holds
-- (03_task_privileges.sql; tests/access_model.py requires it of a view that calls them).
-- - warehouse: the deploy's warehouse alone (REFRESH_GOLD, TEST_GOLD, and the dashboard,
--   which runs its queries there: the app has no line of its own, it would count twice).
--   Hourly, for up to 6 months.
--   https://docs.snowflake.com/en/sql-reference/functions/warehouse_metering_history
-- - serverless tasks, serverless alerts: account-wide, as in CREDIT_USAGE; hourly.
--   https://docs.snowflake.com/en/sql-reference/functions/serverless_task_history
--   https://docs.snowflake.com/en/sql-reference/functions/serverless_alert_history
-- - Snowpipe: account-wide (no PIPE_NAME: one row per interval, all pipes summed). The
--   function keeps 14 days and errors on a range outside the last 15, so Snowpipe's
--   window is 14 days; over that range it answers in 24-hour increments.
--   https://docs.snowflake.com/en/sql-reference/functions/pipe_usage_history
CREATE OR REPLACE VIEW <% database %>.OPS.CREDITS_BY_KIND AS
SELECT 'warehouse' AS KIND,
       CONVERT_TIMEZONE('UTC', START_TIME)::TIMESTAMP_NTZ AS START_AT,
       CREDITS_USED::FLOAT AS CREDITS
FROM TABLE(<% database %>.INFORMATION_SCHEMA.WAREHOUSE_METERING_HISTORY(
       DATE_RANGE_START => DATEADD(DAY, -30, CURRENT_TIMESTAMP()),
       DATE_RANGE_END => CURRENT_TIMESTAMP(),
       WAREHOUSE_NAME => '<% warehouse %>'))
UNION ALL
SELECT 'serverless tasks' AS KIND,
       CONVERT_TIMEZONE('UTC', START_TIME)::TIMESTAMP_NTZ AS START_AT,
       CREDITS_USED::FLOAT AS CREDITS
FROM TABLE(<% database %>.INFORMATION_SCHEMA.SERVERLESS_TASK_HISTORY(
       DATE_RANGE_START => DATEADD(DAY, -30, CURRENT_TIMESTAMP()),
       DATE_RANGE_END => CURRENT_TIMESTAMP()))
UNION ALL
SELECT 'Snowpipe' AS KIND,
       CONVERT_TIMEZONE('UTC', START_TIME)::TIMESTAMP_NTZ AS START_AT,
       CREDITS_USED::FLOAT AS CREDITS
FROM TABLE(<% database %>.INFORMATION_SCHEMA.PIPE_USAGE_HISTORY(
       DATE_RANGE_START => DATEADD(DAY, -14, CURRENT_TIMESTAMP()),
       DATE_RANGE_END => CURRENT_TIMESTAMP()))
UNION ALL
SELECT 'serverless alerts' AS KIND,
       CONVERT_TIMEZONE('UTC', START_TIME)::TIMESTAMP_NTZ AS START_AT,
       CREDITS_USED::FLOAT AS CREDITS
FROM TABLE(<% database %>.INFORMATION_SCHEMA.SERVERLESS_ALERT_HISTORY(
       DATE_RANGE_START => DATEADD(DAY, -30, CURRENT_TIMESTAMP()),
       DATE_RANGE_END => CURRENT_TIMESTAMP()));

-- The last week of alert runs in this database, times in UTC (ALERT_HISTORY returns the
-- alert owner's runs: TRANSFORM owns them all). The local runtime records its own runs
-- under this name with these columns.
-- https://docs.snowflake.com/en/sql-reference/functions/alert_history
CREATE OR REPLACE VIEW <% database %>.OPS.ALERT_RUNS AS
SELECT NAME AS ALERT_NAME,
       STATE,
       CONVERT_TIMEZONE('UTC', SCHEDULED_TIME)::TIMESTAMP_NTZ AS SCHEDULED_AT,
       CONVERT_TIMEZONE('UTC', COMPLETED_TIME)::TIMESTAMP_NTZ AS COMPLETED_AT,
       SQL_ERROR_MESSAGE AS ERROR_MESSAGE
FROM TABLE(<% database %>.INFORMATION_SCHEMA.ALERT_HISTORY(
       SCHEDULED_TIME_RANGE_START => DATEADD(HOUR, -167, CURRENT_TIMESTAMP()),
       SCHEDULED_TIME_RANGE_END => CURRENT_TIMESTAMP(),
       RESULT_LIMIT => 10000))
WHERE DATABASE_NAME = '<% database %>' AND SCHEMA_NAME = 'OPS';

-- A SILVER or GOLD table past its freshness target (OPS.TABLE_FRESHNESS, which dbt
-- builds: until its first build the condition fails and ALERT_RUNS says so).
CREATE OR REPLACE ALERT <% database %>.OPS.FRESHNESS_ALERT
  SCHEDULE = '15 MINUTE'
  COMMENT = 'A SILVER or GOLD table past its freshness target: docs/runbook.md#freshness_alert'
  IF (EXISTS (
    SELECT TABLE_SCHEMA || '.' || TABLE_NAME AS OBJECT_NAME,
           CASE WHEN AGE_MINUTES IS NULL THEN 'has no rows'
                ELSE TO_VARCHAR(ROUND(AGE_MINUTES)::NUMBER) || ' min old' END
             || ' (target ' || TO_VARCHAR(TARGET_MINUTES) || ' min)' AS FIGURE
    FROM <% database %>.OPS.TABLE_FRESHNESS WHERE NOT IS_FRESH))
  THEN EXECUTE IMMEDIATE $$
    BEGIN
      LET message VARCHAR;
      SELECT TO_JSON(OBJECT_CONSTRUCT(
               'alert', '<% database %>.OPS.FRESHNESS_ALERT',
               'message', LISTAGG(OBJECT_NAME || ': ' || FIGURE, '; ')
                            WITHIN GROUP (ORDER BY OBJECT_NAME),
               'runbook', 'docs/runbook.md#freshness_alert'))
        INTO :message
        FROM TABLE(RESULT_SCAN(SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID()));
      CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(:message),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('<% error_integration %>'));
    END;
  $$;

-- A builder holding more unfinished events than BACKLOG_EVENTS (OPS.BUILDER_BACKLOG,
-- what the status command's backlog check reads).
CREATE OR REPLACE ALERT <% database %>.OPS.BACKLOG_ALERT
  SCHEDULE = '15 MINUTE'
  COMMENT = 'A builder with unfinished events: docs/runbook.md#backlog_alert'
  IF (EXISTS (
    SELECT 'OPS.' || CONSUMER AS OBJECT_NAME,
           TO_VARCHAR(PENDING_EVENTS) || ' events pending since batch ' || OLDEST_BATCH_ID
             AS FIGURE
    FROM <% database %>.OPS.BUILDER_BACKLOG
    WHERE PENDING_EVENTS > (SELECT VALUE FROM <% database %>.OPS.ALERT_THRESHOLDS
                            WHERE NAME = 'BACKLOG_EVENTS')))
  THEN EXECUTE IMMEDIATE $$
    BEGIN
      LET message VARCHAR;
      SELECT TO_JSON(OBJECT_CONSTRUCT(
               'alert', '<% database %>.OPS.BACKLOG_ALERT',
               'message', LISTAGG(OBJECT_NAME || ': ' || FIGURE, '; ')
                            WITHIN GROUP (ORDER BY OBJECT_NAME),
               'runbook', 'docs/runbook.md#backlog_alert'))
        INTO :message
        FROM TABLE(RESULT_SCAN(SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID()));
      CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(:message),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('<% error_integration %>'));
    END;
  $$;

-- More records quarantined in the last day than QUARANTINED_PER_DAY, by topic and reason.
CREATE OR REPLACE ALERT <% database %>.OPS.QUARANTINE_ALERT
  SCHEDULE = '60 MINUTE'
  COMMENT = 'Records quarantined above the normal rate: docs/runbook.md#quarantine_alert'
  IF (EXISTS (
    SELECT 'OPS.QUARANTINE ' || TOPIC AS OBJECT_NAME,
           TO_VARCHAR(COUNT(*)) || ' records in the last day (' || REASON || ')' AS FIGURE
    FROM <% database %>.OPS.QUARANTINE
    WHERE QUARANTINED_AT >= DATEADD(HOUR, -24, SYSDATE())
    GROUP BY TOPIC, REASON
    QUALIFY SUM(COUNT(*)) OVER () > (SELECT VALUE FROM <% database %>.OPS.ALERT_THRESHOLDS
                                     WHERE NAME = 'QUARANTINED_PER_DAY')))
  THEN EXECUTE IMMEDIATE $$
    BEGIN
      LET message VARCHAR;
      SELECT TO_JSON(OBJECT_CONSTRUCT(
               'alert', '<% database %>.OPS.QUARANTINE_ALERT',
               'message', LISTAGG(OBJECT_NAME || ': ' || FIGURE, '; ')
                            WITHIN GROUP (ORDER BY OBJECT_NAME),
               'runbook', 'docs/runbook.md#quarantine_alert'))
        INTO :message
        FROM TABLE(RESULT_SCAN(SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID()));
      CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(:message),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('<% error_integration %>'));
    END;
  $$;

-- A task whose latest TASK_FAILED_RUNS finished runs all failed (OPS.TASK_RUNS). A task
-- that suspended itself after SUSPEND_TASK_AFTER_NUM_FAILURES failures is one of them:
-- its last run failed, and no run follows while it is suspended.
CREATE OR REPLACE ALERT <% database %>.OPS.TASKS_ALERT
  SCHEDULE = '15 MINUTE'
  COMMENT = 'A task failing, or suspended after failures: docs/runbook.md#tasks_alert'
  IF (EXISTS (
    SELECT 'OPS.' || TASK_NAME AS OBJECT_NAME,
           TO_VARCHAR(COUNT(*)) || ' failed runs in a row, last at '
             || TO_VARCHAR(MAX(COMPLETED_AT), 'YYYY-MM-DD HH24:MI') || ' UTC: '
             || MAX_BY(ERROR_MESSAGE, COMPLETED_AT) AS FIGURE
    FROM (
      SELECT TASK_NAME, STATE, COMPLETED_AT, ERROR_MESSAGE,
             COUNT_IF(STATE = 'SUCCEEDED') OVER (
               PARTITION BY TASK_NAME ORDER BY COMPLETED_AT DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS SUCCEEDED_SINCE
      FROM <% database %>.OPS.TASK_RUNS
      WHERE STATE IN ('SUCCEEDED', 'FAILED', 'CANCELLED')) r
    WHERE SUCCEEDED_SINCE = 0
    GROUP BY TASK_NAME
    HAVING COUNT(*) >= (SELECT VALUE FROM <% database %>.OPS.ALERT_THRESHOLDS
                        WHERE NAME = 'TASK_FAILED_RUNS')))
  THEN EXECUTE IMMEDIATE $$
    BEGIN
      LET message VARCHAR;
      SELECT TO_JSON(OBJECT_CONSTRUCT(
               'alert', '<% database %>.OPS.TASKS_ALERT',
               'message', LISTAGG(OBJECT_NAME || ': ' || FIGURE, '; ')
                            WITHIN GROUP (ORDER BY OBJECT_NAME),
               'runbook', 'docs/runbook.md#tasks_alert'))
        INTO :message
        FROM TABLE(RESULT_SCAN(SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID()));
      CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(:message),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('<% error_integration %>'));
    END;
  $$;

-- A pipe not RUNNING, holding files it does not load, or rejecting lines.
CREATE OR REPLACE ALERT <% database %>.OPS.PIPES_ALERT
  SCHEDULE = '15 MINUTE'
  COMMENT = 'A pipe paused, stalled or with load errors: docs/runbook.md#pipes_alert'
  IF (EXISTS (
    SELECT PIPE_NAME AS OBJECT_NAME,
           EXECUTION_STATE || ', ' || TO_VARCHAR(PENDING_FILES) || ' pending, '
             || TO_VARCHAR(LOAD_ERRORS) || ' load errors in the last day, last load '
             || COALESCE(TO_VARCHAR(LAST_INGESTED_AT, 'YYYY-MM-DD HH24:MI') || ' UTC', 'never')
             AS FIGURE
    FROM <% database %>.OPS.PIPE_HEALTH
    WHERE EXECUTION_STATE <> 'RUNNING'
       OR (PENDING_FILES > 0 AND COALESCE(LAST_INGESTED_AT, '1970-01-01'::TIMESTAMP_NTZ)
             < DATEADD(MINUTE, -(SELECT VALUE FROM <% database %>.OPS.ALERT_THRESHOLDS
                                 WHERE NAME = 'PIPE_STALL_MINUTES'), SYSDATE()))
       OR LOAD_ERRORS > (SELECT VALUE FROM <% database %>.OPS.ALERT_THRESHOLDS
                         WHERE NAME = 'PIPE_LOAD_ERRORS_PER_DAY')))
  THEN EXECUTE IMMEDIATE $$
    BEGIN
      LET message VARCHAR;
      SELECT TO_JSON(OBJECT_CONSTRUCT(
               'alert', '<% database %>.OPS.PIPES_ALERT',
               'message', LISTAGG(OBJECT_NAME || ': ' || FIGURE, '; ')
                            WITHIN GROUP (ORDER BY OBJECT_NAME),
               'runbook', 'docs/runbook.md#pipes_alert'))
        INTO :message
        FROM TABLE(RESULT_SCAN(SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID()));
      CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(:message),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('<% error_integration %>'));
    END;
  $$;

-- A stream whose offset stood still for STREAM_OFFSET_DAYS: close to going stale.
CREATE OR REPLACE ALERT <% database %>.OPS.STREAMS_ALERT
  SCHEDULE = '720 MINUTE'
  COMMENT = 'A stream close to going stale: docs/runbook.md#streams_alert'
  IF (EXISTS (
    SELECT STREAM_NAME AS OBJECT_NAME,
           'offset unmoved since ' || TO_VARCHAR(OFFSET_AT, 'YYYY-MM-DD HH24:MI')
             || ' UTC (' || TO_VARCHAR(DATEDIFF('hour', OFFSET_AT, SYSDATE())) || ' h)' AS FIGURE
    FROM <% database %>.OPS.STREAM_OFFSETS
    WHERE OFFSET_AT < DATEADD(DAY, -(SELECT VALUE FROM <% database %>.OPS.ALERT_THRESHOLDS
                                     WHERE NAME = 'STREAM_OFFSET_DAYS'), SYSDATE())))
  THEN EXECUTE IMMEDIATE $$
    BEGIN
      LET message VARCHAR;
      SELECT TO_JSON(OBJECT_CONSTRUCT(
               'alert', '<% database %>.OPS.STREAMS_ALERT',
               'message', LISTAGG(OBJECT_NAME || ': ' || FIGURE, '; ')
                            WITHIN GROUP (ORDER BY OBJECT_NAME),
               'runbook', 'docs/runbook.md#streams_alert'))
        INTO :message
        FROM TABLE(RESULT_SCAN(SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID()));
      CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(:message),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('<% error_integration %>'));
    END;
  $$;

-- Runs of heights with no canonical block (SILVER.BLOCK_GAPS), more than HEIGHT_GAPS.
CREATE OR REPLACE ALERT <% database %>.OPS.HEIGHT_GAPS_ALERT
  SCHEDULE = '60 MINUTE'
  COMMENT = 'Heights missing from the chain: docs/runbook.md#height_gaps_alert'
  IF (EXISTS (
    SELECT 'SILVER.BLOCK_GAPS' AS OBJECT_NAME,
           'heights ' || TO_VARCHAR(HEIGHT) || ' to ' || TO_VARCHAR(COALESCE(LAST_HEIGHT, HEIGHT))
             || ' missing since ' || TO_VARCHAR(DETECTED_AT, 'YYYY-MM-DD HH24:MI') || ' UTC'
             AS FIGURE
    FROM <% database %>.SILVER.BLOCK_GAPS
    QUALIFY COUNT(*) OVER () > (SELECT VALUE FROM <% database %>.OPS.ALERT_THRESHOLDS
                                WHERE NAME = 'HEIGHT_GAPS')))
  THEN EXECUTE IMMEDIATE $$
    BEGIN
      LET message VARCHAR;
      SELECT TO_JSON(OBJECT_CONSTRUCT(
               'alert', '<% database %>.OPS.HEIGHT_GAPS_ALERT',
               'message', LISTAGG(OBJECT_NAME || ': ' || FIGURE, '; ')
                            WITHIN GROUP (ORDER BY FIGURE),
               'runbook', 'docs/runbook.md#height_gaps_alert'))
        INTO :message
        FROM TABLE(RESULT_SCAN(SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID()));
      CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(:message),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('<% error_integration %>'));
    END;
  $$;

-- Serverless task credits of the last day over SERVERLESS_CREDITS_PER_DAY.
CREATE OR REPLACE ALERT <% database %>.OPS.CREDITS_ALERT
  SCHEDULE = '60 MINUTE'
  COMMENT = 'Credits over the daily budget: docs/runbook.md#credits_alert'
  IF (EXISTS (
    SELECT SOURCE AS OBJECT_NAME,
           TO_VARCHAR(ROUND(SUM(CREDITS), 3)) || ' credits in the last day (budget '
             || TO_VARCHAR(MAX(b.VALUE)) || ')' AS FIGURE
    FROM <% database %>.OPS.CREDIT_USAGE
    CROSS JOIN (SELECT VALUE FROM <% database %>.OPS.ALERT_THRESHOLDS
                WHERE NAME = 'SERVERLESS_CREDITS_PER_DAY') b
    WHERE START_AT >= DATEADD(HOUR, -24, SYSDATE())
    GROUP BY SOURCE
    HAVING SUM(CREDITS) > MAX(b.VALUE)))
  THEN EXECUTE IMMEDIATE $$
    BEGIN
      LET message VARCHAR;
      SELECT TO_JSON(OBJECT_CONSTRUCT(
               'alert', '<% database %>.OPS.CREDITS_ALERT',
               'message', LISTAGG(OBJECT_NAME || ': ' || FIGURE, '; ')
                            WITHIN GROUP (ORDER BY OBJECT_NAME),
               'runbook', 'docs/runbook.md#credits_alert'))
        INTO :message
        FROM TABLE(RESULT_SCAN(SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID()));
      CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(:message),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('<% error_integration %>'));
    END;
  $$;
