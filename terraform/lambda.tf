# The REST poller: one run a minute, state in S3 changed only by conditional writes (two
# overlapping runs cannot both advance it).

resource "aws_cloudwatch_log_group" "poller" {
  #checkov:skip=CKV_AWS_158:Run summaries hold no secrets; the default CloudWatch encryption applies.
  #checkov:skip=CKV_AWS_338:Retention is a cost choice (var.log_retention_days).
  name              = "/aws/lambda/${var.name_prefix}-poller"
  retention_in_days = var.log_retention_days
}

resource "aws_sqs_queue" "poller_failures" {
  # Failed asynchronous invocations (after EventBridge's and Lambda's retries) land here.
  name                      = "${var.name_prefix}-poller-failures"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "poller" {
  name               = "${var.name_prefix}-poller"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "poller" {
  statement {
    sid     = "WriteRestLandingPrefixes"
    actions = ["s3:PutObject"]
    resources = [
      for p in ["blocks", "prices", "stats"] : "${aws_s3_bucket.landing.arn}/${local.prefixes[p]}*"
    ]
  }
  statement {
    sid       = "KeepStateWithConditionalWrites"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.landing.arn}/${local.poller_state_key}"]
  }
  statement {
    # Without s3:ListBucket, S3 answers a GET of a missing object with 403 AccessDenied,
    # not 404 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html): the
    # first run, before the state object exists, could never tell "no state yet" from
    # "not allowed", and would fail forever. Listing is allowed for the state key alone.
    sid       = "SeeThatTheStateIsMissing"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.landing.arn]
    condition {
      test     = "StringEquals"
      variable = "s3:prefix"
      values   = [local.poller_state_key]
    }
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.poller.arn}:*"]
  }
  statement {
    sid       = "ReportFailures"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.poller_failures.arn]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray actions support no resource-level permissions.
  }
}

resource "aws_iam_role_policy" "poller" {
  name   = "poll"
  role   = aws_iam_role.poller.id
  policy = data.aws_iam_policy_document.poller.json
}

resource "aws_lambda_function" "poller" {
  #checkov:skip=CKV_AWS_117:The poller calls the public mempool.space API; a VPC would only add a NAT gateway.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile per deployment; the package is built by CI from the tagged source.
  #checkov:skip=CKV_AWS_173:The environment holds names and URLs only, no secrets; default encryption at rest applies.
  #checkov:skip=CKV_AWS_115:No reserved concurrency on purpose: Lambda keeps a minimum of the account's concurrency unreserved, and a new account's whole quota (10) is that minimum, so any reservation is refused; overlapping runs are safe (the state changes only by conditional writes).
  function_name    = "${var.name_prefix}-poller"
  role             = aws_iam_role.poller.arn
  runtime          = var.lambda_runtime
  handler          = "ingest.lambda_handler.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  # The poller's own budget is 6 s (ingest/poller.py); 10 s leaves room to save state.
  timeout     = 10
  memory_size = 256
  # No reserved_concurrent_executions: Lambda keeps a minimum of the account's concurrency
  # unreserved ("You can reserve up to the Unreserved account concurrency value minus
  # 100", https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html),
  # and new accounts start with reduced quotas (concurrency 10, all of it that minimum:
  # "decreases account's UnreservedConcurrentExecution below its minimum value of [10]"),
  # so reserving even 1 fails the apply. Two overlapping runs are harmless: the state
  # object changes only by conditional writes (If-Match / If-None-Match), so one of them
  # ends with a state conflict, changing nothing, and objects both wrote are deduplicated
  # by key in Snowflake.

  environment {
    variables = {
      MEMPOOL_BUCKET    = aws_s3_bucket.landing.bucket
      MEMPOOL_API_BASE  = var.mempool_api_base
      MEMPOOL_STATE_KEY = local.poller_state_key
    }
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.poller_failures.arn
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.poller, aws_iam_role_policy.poller]
}

resource "aws_lambda_function_event_invoke_config" "poller" {
  function_name = aws_lambda_function.poller.function_name
  # A missed minute is filled by the next run (gaps are recorded in the state); old
  # retries would only pile up behind it.
  maximum_event_age_in_seconds = 120
  maximum_retry_attempts       = 1

  destination_config {
    on_failure {
      destination = aws_sqs_queue.poller_failures.arn
    }
  }
}

resource "aws_cloudwatch_event_rule" "poll" {
  name                = "${var.name_prefix}-poll"
  description         = "Run the mempool.space REST poller."
  schedule_expression = var.poll_schedule
}

resource "aws_cloudwatch_event_target" "poll" {
  rule = aws_cloudwatch_event_rule.poll.name
  arn  = aws_lambda_function.poller.arn

  retry_policy {
    maximum_event_age_in_seconds = 120
    maximum_retry_attempts       = 2
  }

  dead_letter_config {
    arn = aws_sqs_queue.poller_failures.arn
  }
}

resource "aws_lambda_permission" "eventbridge" {
  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.poller.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.poll.arn
}

data "aws_iam_policy_document" "poller_failures" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.poller_failures.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.poll.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "poller_failures" {
  queue_url = aws_sqs_queue.poller_failures.id
  policy    = data.aws_iam_policy_document.poller_failures.json
}
