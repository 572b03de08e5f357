# What Snowflake needs from AWS. Two-step apply (docs/deploy.md): the first apply creates
# the roles with a trust policy nobody can use yet; `mempool deploy` creates the
# integrations; `DESC INTEGRATION` gives Snowflake's principal and external id, and the
# second apply writes them into the trust policies.

locals {
  # Who may assume each role, once the second apply knows; before that only this account
  # (that is, nobody yet) with an external id nobody has.
  snowflake_trust = {
    storage = { principal = var.snowflake_storage_principal_arn, external_id = var.snowflake_storage_external_id }
    errors  = { principal = var.snowflake_errors_principal_arn, external_id = var.snowflake_errors_external_id }
  }
  storage_trusted = var.snowflake_storage_principal_arn != "" && var.snowflake_storage_external_id != ""
  errors_trusted  = var.snowflake_errors_principal_arn != "" && var.snowflake_errors_external_id != ""
}

data "aws_iam_policy_document" "snowflake_trust" {
  for_each = local.snowflake_trust
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [each.value.principal != "" && each.value.external_id != "" ? each.value.principal : "arn:${local.partition}:iam::${local.account_id}:root"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [each.value.principal != "" && each.value.external_id != "" ? each.value.external_id : "not-yet-configured"]
    }
  }
}

resource "aws_iam_role" "snowflake_storage" {
  name               = "${var.name_prefix}-snowflake-storage"
  description        = "Assumed by the Snowflake storage integration to read the landing prefixes."
  assume_role_policy = data.aws_iam_policy_document.snowflake_trust["storage"].json
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

resource "aws_iam_role" "snowflake_errors" {
  name               = "${var.name_prefix}-snowflake-errors"
  description        = "Assumed by the Snowflake notification integration to publish task failures."
  assume_role_policy = data.aws_iam_policy_document.snowflake_trust["errors"].json
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
