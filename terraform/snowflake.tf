# What Snowflake needs from AWS. The handshake (docs/deploy.md): the first apply creates
# the roles with a trust policy nobody can use yet; `mempool deploy` creates the
# integrations; `DESC INTEGRATION` and `SHOW PIPES` give Snowflake's principals, external
# ids and the pipes' queue, which the operator writes once into the SSM parameters below;
# the next apply (from a laptop or CI alike) writes them into the trust policies and the
# bucket notifications.
#
# Why SSM parameters and not variables: CI applies with TF_VARS_JSON only. Values passed
# as -var on the operator's second apply would be missing from every later apply, which
# would then reset both trust policies to "nobody" and remove the bucket notifications:
# Snowpipe would stop without an error anywhere. Stored in the account, they are read by
# every apply, whoever runs it, and no tfvars file has to carry them.
#
# Terraform creates each parameter once with a placeholder and never writes it again
# (ignore_changes): the operator's `aws ssm put-parameter --overwrite` is the only writer.
# Every plan refreshes the parameter, so `insecure_value` is the operator's value. A
# resource rather than a data source because the parameters must exist for the first
# apply, before Snowflake has named anything, and a data source would fail on a missing
# parameter (or make the notifications' count unknown until apply).

locals {
  snowflake_unset = "not-yet-configured"
  # Parameter (under /<name_prefix>/snowflake/) => where its value comes from.
  snowflake_parameters = {
    storage_principal_arn = "STORAGE_AWS_IAM_USER_ARN of DESC INTEGRATION <db>_LANDING"
    storage_external_id   = "STORAGE_AWS_EXTERNAL_ID of DESC INTEGRATION <db>_LANDING"
    errors_principal_arn  = "SF_AWS_IAM_USER_ARN of DESC INTEGRATION <db>_TASK_ERRORS"
    errors_external_id    = "SF_AWS_EXTERNAL_ID of DESC INTEGRATION <db>_TASK_ERRORS"
    snowpipe_queue_arn    = "notification_channel of SHOW PIPES IN SCHEMA <db>.RAW"
  }
  snowflake = { for k, p in aws_ssm_parameter.snowflake : k => p.insecure_value }

  storage_trusted = local.snowflake.storage_principal_arn != local.snowflake_unset && local.snowflake.storage_external_id != local.snowflake_unset
  errors_trusted  = local.snowflake.errors_principal_arn != local.snowflake_unset && local.snowflake.errors_external_id != local.snowflake_unset
  # Empty until the operator has written the pipes' queue: no notifications yet.
  snowpipe_queue_arn = local.snowflake.snowpipe_queue_arn == local.snowflake_unset ? "" : local.snowflake.snowpipe_queue_arn

  # Who may assume each role, once known; before that only this account (that is, nobody
  # yet) with an external id nobody has.
  snowflake_trust = {
    storage = { trusted = local.storage_trusted, principal = local.snowflake.storage_principal_arn, external_id = local.snowflake.storage_external_id }
    errors  = { trusted = local.errors_trusted, principal = local.snowflake.errors_principal_arn, external_id = local.snowflake.errors_external_id }
  }
}

resource "aws_ssm_parameter" "snowflake" {
  #checkov:skip=CKV2_AWS_34:Not secrets: Snowflake's IAM user ARN, external id and queue ARN, which end up in IAM trust policies and bucket notifications readable with iam:GetRole and s3:GetBucketNotification.
  for_each    = local.snowflake_parameters
  name        = "/${var.name_prefix}/snowflake/${each.key}"
  description = "${each.value}; written by the operator (docs/deploy.md), read by every terraform apply."
  type        = "String"
  # The placeholder until the operator overwrites it; never written again by Terraform.
  insecure_value = local.snowflake_unset

  lifecycle {
    ignore_changes = [insecure_value]
  }
}

data "aws_iam_policy_document" "snowflake_trust" {
  for_each = local.snowflake_trust
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [each.value.trusted ? each.value.principal : "arn:${local.partition}:iam::${local.account_id}:root"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [each.value.trusted ? each.value.external_id : local.snowflake_unset]
    }
  }
}

resource "aws_iam_role" "snowflake_storage" {
  name               = "${var.name_prefix}-snowflake-storage"
  description        = "Assumed by the Snowflake storage integration to read the landing prefixes."
  assume_role_policy = data.aws_iam_policy_document.snowflake_trust["storage"].json

  lifecycle {
    # A typo in a parameter fails the plan here instead of writing a trust nobody matches.
    precondition {
      condition     = local.snowflake.storage_principal_arn == local.snowflake_unset || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(user|role)/", local.snowflake.storage_principal_arn))
      error_message = "SSM parameter /${var.name_prefix}/snowflake/storage_principal_arn must be STORAGE_AWS_IAM_USER_ARN (arn:aws:iam::<account>:user/...)."
    }
    precondition {
      condition     = (local.snowflake.storage_principal_arn == local.snowflake_unset) == (local.snowflake.storage_external_id == local.snowflake_unset)
      error_message = "Write both /${var.name_prefix}/snowflake/storage_principal_arn and storage_external_id (DESC INTEGRATION <db>_LANDING), not one."
    }
  }
}

data "aws_iam_policy_document" "snowflake_storage" {
  statement {
    sid       = "ReadLanding"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.landing.arn}/${local.landing_root}/*"]
  }
  statement {
    sid       = "ListLanding"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.landing.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.landing_root}/*"]
    }
  }
}

resource "aws_iam_role_policy" "snowflake_storage" {
  name   = "read-landing"
  role   = aws_iam_role.snowflake_storage.id
  policy = data.aws_iam_policy_document.snowflake_storage.json
}

resource "aws_sns_topic" "task_errors" {
  name              = "${var.name_prefix}-task-errors"
  kms_master_key_id = "alias/aws/sns"
}

# Someone must hear about a failed task: without a subscriber the topic drops every
# message Snowflake publishes.
resource "aws_sns_topic_subscription" "task_errors_email" {
  count     = var.alert_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.task_errors.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

# Further subscribers (alert_subscriptions): the same topic carries the Snowflake alerts
# (snowflake/sql/80_alerts.sql), one JSON message per firing with the runbook section.
# Keyed by protocol and endpoint, so adding or removing one leaves the others (and their
# confirmations) alone. An email or https subscription stays "pending confirmation" and
# receives nothing until its recipient confirms; nothing here can confirm for it. The
# topic's policy is left as AWS makes it (only this account may subscribe); an sqs or
# lambda endpoint grants the topic on its own side, so no permission is widened here.
# https://docs.aws.amazon.com/sns/latest/dg/sns-create-subscribe-endpoint-to-topic.html
resource "aws_sns_topic_subscription" "task_errors" {
  for_each  = { for s in var.alert_subscriptions : "${s.protocol} ${s.endpoint}" => s }
  topic_arn = aws_sns_topic.task_errors.arn
  protocol  = each.value.protocol
  endpoint  = each.value.endpoint
}

resource "aws_iam_role" "snowflake_errors" {
  name               = "${var.name_prefix}-snowflake-errors"
  description        = "Assumed by the Snowflake notification integration to publish task failures."
  assume_role_policy = data.aws_iam_policy_document.snowflake_trust["errors"].json

  lifecycle {
    precondition {
      condition     = local.snowflake.errors_principal_arn == local.snowflake_unset || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(user|role)/", local.snowflake.errors_principal_arn))
      error_message = "SSM parameter /${var.name_prefix}/snowflake/errors_principal_arn must be SF_AWS_IAM_USER_ARN (arn:aws:iam::<account>:user/...)."
    }
    precondition {
      condition     = (local.snowflake.errors_principal_arn == local.snowflake_unset) == (local.snowflake.errors_external_id == local.snowflake_unset)
      error_message = "Write both /${var.name_prefix}/snowflake/errors_principal_arn and errors_external_id (DESC INTEGRATION <db>_TASK_ERRORS), not one."
    }
  }
}

data "aws_iam_policy_document" "snowflake_errors" {
  statement {
    sid       = "PublishTaskErrors"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.task_errors.arn]
  }
}

resource "aws_iam_role_policy" "snowflake_errors" {
  name   = "publish-task-errors"
  role   = aws_iam_role.snowflake_errors.id
  policy = data.aws_iam_policy_document.snowflake_errors.json
}
