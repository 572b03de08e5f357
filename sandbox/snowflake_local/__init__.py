"""The local Snowflake runtime: what fakesnow lacks, provided by running production's
own artifacts, one module per Snowflake object kind.

- `plan`: what the deploy's SQL declares (pipes, tasks, the task-history view).
- `base`: the runtime's state and its connections to the local warehouse.
- `pipes`: Snowpipe, from each pipe's own definition, driven by the S3 -> SQS
  notifications.
- `streams`: offsets that move when the DML reading them commits, and the Snowpark
  session procedures get locally.
- `procedures`: CALL, with the handlers from the archive the deploy uploads.
- `tasks`: task state as the deploy's statements leave it, and the task graph's runs.
- `task_history`: each run recorded where OPS.TASK_RUNS reads Snowflake's own.
- `runtime`: `LocalSnowflake`, composing them, and the deploy of a release over another.

- `alerts`: the deploy's alerts run on their schedule, each run recorded where
  OPS.ALERT_RUNS reads Snowflake's alert history, each notification recorded, not sent.
"""
