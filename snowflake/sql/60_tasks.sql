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
-- The silver graph: one triggered serverless task. It runs whenever any RAW stream has
-- data and calls REFRESH_SILVER, which loads and then runs every builder in the same
-- run (mempool_procs/refresh_silver.py says why one run and not a task per stage).
-- TARGET_COMPLETION_INTERVAL now sizes the compute for the five stages together.
-- USER_TASK_MINIMUM_TRIGGER_INTERVAL_IN_SECONDS bounds the bill whatever the arrival
-- pattern: the two Firehose streams and the poller land at their own moments, and at
-- Snowflake's default (30 s) they could start two runs a minute; at 60 s there is at
-- most one, which takes everything landed meanwhile.
-- https://docs.snowflake.com/en/user-guide/tasks-triggered
-- https://docs.snowflake.com/en/sql-reference/parameters (USER_TASK_MINIMUM_TRIGGER_INTERVAL_IN_SECONDS)
-- Releases before this one ran a root LOAD_EVENTS and four builder tasks after it:
-- they go, children first (12_suspend.sql suspended the root).
DROP TASK IF EXISTS <% database %>.OPS.BUILD_STATS;
DROP TASK IF EXISTS <% database %>.OPS.BUILD_BLOCKS;
DROP TASK IF EXISTS <% database %>.OPS.BUILD_PRICES;
DROP TASK IF EXISTS <% database %>.OPS.BUILD_PROJECTED;
DROP TASK IF EXISTS <% database %>.OPS.LOAD_EVENTS;

-- SUSPEND_TASK_AFTER_NUM_FAILURES = 0: never suspended for failing. A run fails when
-- any stage fails, and the other stages still do their work in it; suspending the task
-- after a few such runs would stop all of SILVER for one poisoned builder. TASKS_ALERT
-- (a failed run) and BACKLOG_ALERT (the events that builder holds) say which stage and
-- why, and a task that keeps running picks up again the moment the cause is fixed.
--
-- Freshness on demand: a run needs data landed AND a request since the last run
-- (OPS.SILVER_REQUESTS, consumed by the procedure). The Live page requests one at each
-- refresh while it is open, so a viewer gets a run every trigger interval; SILVER_TICK
-- requests one every silver_idle_minutes, so with nobody watching SILVER (and History's
-- minute-level charts, the alerts) stays that fresh for a tenth of the runs. Landing
-- never stops: the streams hold what arrives between runs, and one run takes it all.
-- A WHEN may combine streams with AND and OR (the triggered-tasks page).
CREATE OR REPLACE TASK <% database %>.OPS.REFRESH_SILVER
  TARGET_COMPLETION_INTERVAL = '1 MINUTES'
  USER_TASK_MINIMUM_TRIGGER_INTERVAL_IN_SECONDS = <% silver_trigger_seconds %>
  OVERLAP_POLICY = NO_OVERLAP
  SUSPEND_TASK_AFTER_NUM_FAILURES = 0
  ERROR_INTEGRATION = <% error_integration %>
  WHEN SYSTEM$STREAM_HAS_DATA('<% database %>.SILVER.REQUESTS_STRM')
    AND (SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.STREAM_EVENTS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.CONVERSIONS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.BLOCKS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.PRICES_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.REST_STATS_STRM')
    OR SYSTEM$STREAM_HAS_DATA('<% database %>.RAW.OVERSIZE_STRM'))
AS CALL <% database %>.SILVER.REFRESH_SILVER();

-- The idle request: one INSERT on serverless compute every silver_idle_minutes (its own
-- graph, so it never waits on a silver run). A tick while nothing has landed leaves the
-- request waiting, and the first landing after it is loaded at once.
-- https://docs.snowflake.com/en/user-guide/tasks-intro (serverless tasks)
CREATE OR REPLACE TASK <% database %>.OPS.SILVER_TICK
  USER_TASK_MANAGED_INITIAL_WAREHOUSE_SIZE = 'XSMALL'
  SCHEDULE = '<% silver_idle_minutes %> MINUTES'
  OVERLAP_POLICY = NO_OVERLAP
  SUSPEND_TASK_AFTER_NUM_FAILURES = 0
  ERROR_INTEGRATION = <% error_integration %>
AS INSERT INTO <% database %>.OPS.SILVER_REQUESTS (REQUESTED_AT, REQUESTED_BY)
  SELECT SYSDATE(), 'SILVER_TICK';

-- Gold: the dbt project, on demand. A warehouse task each minute would keep the
-- warehouse from ever suspending (about 24 XS credits a day); an hourly one still wakes it
-- 730 times a month for nobody (21 credits, most of the bill). So REFRESH_GOLD, like
-- REFRESH_SILVER, runs only when a run was requested (OPS.GOLD_REQUESTS): the History page
-- asks while it is open, so a viewer's marts are at most gold_refresh_minutes behind
-- SILVER; GOLD_TICK asks every gold_idle_minutes, so with nobody watching the marts (and
-- the tests) still advance, for a fraction of the runs. The schedule is only how often the
-- WHEN is checked: Snowflake evaluates a WHEN in its cloud services layer, with no
-- warehouse, and skips the run when it is false.
-- https://docs.snowflake.com/en/sql-reference/sql/create-task (WHEN)
-- The run is `dbt run` alone (the incremental models merge what is new, the views are
-- replaced), so it stays within about a minute of the warehouse; the tests, which read
-- whole marts, run after a run when gold_test_hours have passed since the last run that
-- set them due (TEST_GOLD, below; OPS.GOLD_REFRESHES says when). A run that fails asks
-- for no retry: the next request (the page's next refresh, the tick) is the retry, and a
-- dbt failure cannot keep the warehouse awake; three in a row suspend the task, which
-- TASKS_ALERT reports. Runs never overlap (the gold workflow requests a run of this task
-- instead of running its own dbt). The tasks must be in the dbt project object's
-- database and schema, on a warehouse (serverless tasks cannot run dbt projects).
-- https://docs.snowflake.com/en/user-guide/data-engineering/dbt-projects-on-snowflake-schedule-project-execution
-- https://docs.snowflake.com/en/user-guide/data-engineering/dbt-projects-on-snowflake-limitations
--
-- Why the tests are a child of this task and not a root of their own: Snowflake does not
-- support two EXECUTE DBT PROJECT at once on the same dbt project object, even with
-- different selectors (the limitations page: run one at a time per object). A second
-- root on its own schedule could start while REFRESH_GOLD runs (OVERLAP_POLICY keeps
-- only one graph's runs apart); a child starts only after the run succeeded, on the
-- state that run just built, while the warehouse is still awake (no resume of its own),
-- and NO_OVERLAP holds the next run until the child has finished.
-- A child runs after every run of its root unless its WHEN says otherwise, and WHEN
-- reads only what Snowflake lists (SYSTEM$GET_PREDECESSOR_RETURN_VALUE among them), so
-- the run says when tests are due with the return value 'test'. Every other run TEST_GOLD
-- is SKIPPED, which the task history tells apart from a run: a failed test stays the test
-- task's last run (what `mempool status` and TASKS_ALERT read) until the next test run,
-- not the next gold run. Due-ness is read from the log, not from the run's scheduled
-- time, because on demand most scheduled times are skipped.
-- The bodies are scripting blocks in EXECUTE IMMEDIATE $$ ... $$, the form `snow sql -f`
-- keeps whole (as the alerts' actions); the log's INSERT reads the requests' stream, which
-- consumes it (an autocommitted DML statement). Old requests are purged before it, never
-- after: a version of the table past the stream's offset may read as data to
-- SYSTEM$STREAM_HAS_DATA, which avoids false negatives but not false positives.
-- https://docs.snowflake.com/en/sql-reference/functions/system_stream_has_data
-- With the 2024_06 behaviour change, a scheduled task whose WHEN reads a stream runs when
-- the stream has data, and about every 12 hours regardless, to keep the stream from going
-- stale; its false checks are mostly not recorded as SKIPPED.
-- https://docs.snowflake.com/release-notes/bcr-bundles/2024_06/bcr-1710
-- https://docs.snowflake.com/en/user-guide/tasks-graphs
-- https://docs.snowflake.com/en/developer-guide/snowflake-scripting/variables (SELECT ... INTO)
-- https://docs.snowflake.com/en/sql-reference/functions/system_set_return_value
-- Releases before this one created it in OPS: that task goes (12_suspend.sql suspended it).
DROP TASK IF EXISTS <% database %>.OPS.REFRESH_GOLD;
CREATE OR REPLACE TASK <% database %>.GOLD.REFRESH_GOLD
  WAREHOUSE = <% warehouse %>
  SCHEDULE = '<% gold_refresh_minutes %> MINUTES'
  OVERLAP_POLICY = NO_OVERLAP
  SUSPEND_TASK_AFTER_NUM_FAILURES = 3
  ERROR_INTEGRATION = <% error_integration %>
  WHEN SYSTEM$STREAM_HAS_DATA('<% database %>.SILVER.GOLD_REQUESTS_STRM')
AS EXECUTE IMMEDIATE $$
  DECLARE
    started TIMESTAMP_NTZ DEFAULT SYSDATE();
    due BOOLEAN;
  BEGIN
    DELETE FROM <% database %>.OPS.GOLD_REQUESTS WHERE REQUESTED_AT < DATEADD(DAY, -1, :started);
    INSERT INTO <% database %>.OPS.GOLD_REFRESHES (STARTED_AT, REQUESTS, TICK_REQUESTS, TESTS_DUE)
      SELECT :started, COUNT(*), COALESCE(SUM(IFF(REQUESTED_BY = 'GOLD_TICK', 1, 0)), 0), FALSE
      FROM <% database %>.SILVER.GOLD_REQUESTS_STRM;
    EXECUTE DBT PROJECT <% database %>.GOLD.<% dbt_project %> ARGS = 'run --target prod';
    SELECT COUNT(*) = 0 INTO :due FROM <% database %>.OPS.GOLD_REFRESHES
      WHERE TESTS_DUE AND STARTED_AT > DATEADD(HOUR, -<% gold_test_hours %>, :started);
    IF (due) THEN
      UPDATE <% database %>.OPS.GOLD_REFRESHES SET TESTS_DUE = TRUE WHERE STARTED_AT = :started;
      CALL SYSTEM$SET_RETURN_VALUE('test');
    END IF;
    DELETE FROM <% database %>.OPS.GOLD_REFRESHES WHERE STARTED_AT < DATEADD(DAY, -30, :started);
  END;
  $$;

-- The idle request for gold, as SILVER_TICK's for silver, in its own graph. In GOLD, where
-- the gold workflow's role may operate it (OPERATE on GOLD's tasks): the workflow runs
-- this tick by hand, and REFRESH_GOLD's next check serves the request. Asking instead of
-- running REFRESH_GOLD itself needs no warehouse for the workflow's role (an INSERT
-- would), and holds whether or not a manual EXECUTE TASK of REFRESH_GOLD evaluates its WHEN.
CREATE OR REPLACE TASK <% database %>.GOLD.GOLD_TICK
  USER_TASK_MANAGED_INITIAL_WAREHOUSE_SIZE = 'XSMALL'
  SCHEDULE = '<% gold_idle_minutes %> MINUTES'
  OVERLAP_POLICY = NO_OVERLAP
  SUSPEND_TASK_AFTER_NUM_FAILURES = 0
  ERROR_INTEGRATION = <% error_integration %>
AS INSERT INTO <% database %>.OPS.GOLD_REQUESTS (REQUESTED_AT, REQUESTED_BY)
  SELECT SYSDATE(), 'GOLD_TICK';

CREATE OR REPLACE TASK <% database %>.GOLD.TEST_GOLD
  WAREHOUSE = <% warehouse %>
  AFTER <% database %>.GOLD.REFRESH_GOLD
  WHEN SYSTEM$GET_PREDECESSOR_RETURN_VALUE('REFRESH_GOLD') = 'test'
AS EXECUTE DBT PROJECT <% database %>.GOLD.<% dbt_project %> ARGS = 'test --target prod';
