# Two Firehose streams write NDJSON into the landing bucket. Every contract record
# already ends with "\n" (docs/data-contract.md), so no delimiter processor is added:
# the objects are valid NDJSON exactly as the records arrive.

locals {
  deliveries = {
    stream      = { name = var.stream_delivery_name, prefix = local.prefixes.stream }
    conversions = { name = var.conversions_delivery_name, prefix = local.prefixes.conversions }
  }
}

resource "aws_cloudwatch_log_group" "firehose" {
  #checkov:skip=CKV_AWS_158:Delivery error logs hold no record data; the default CloudWatch encryption applies.
  #checkov:skip=CKV_AWS_338:Retention is a cost choice (var.log_retention_days).
  for_each          = local.deliveries
  name              = "/aws/kinesisfirehose/${each.value.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_stream" "firehose" {
  for_each       = local.deliveries
  name           = "DestinationDelivery"
  log_group_name = aws_cloudwatch_log_group.firehose[each.key].name
}

data "aws_iam_policy_document" "firehose_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "firehose" {
  name               = "${var.name_prefix}-firehose"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
}

data "aws_iam_policy_document" "firehose" {
  statement {
    # Firehose's documented list for an S3 destination includes s3:GetObject
    # (https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3);
    # granted on what it writes, not on the rest of the bucket.
    sid     = "WriteItsPrefixes"
    actions = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
    resources = concat(
      [for d in local.deliveries : "${aws_s3_bucket.landing.arn}/${d.prefix}*"],
      ["${aws_s3_bucket.landing.arn}/${local.firehose_error_prefix}*"],
    )
  }
  statement {
    sid       = "FindTheBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.landing.arn]
  }
  statement {
    sid       = "LogDeliveryErrors"
    actions   = ["logs:PutLogEvents"]
    resources = [for g in aws_cloudwatch_log_group.firehose : "${g.arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "write-landing"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}

resource "aws_kinesis_firehose_delivery_stream" "landing" {
  #checkov:skip=CKV_AWS_241:Records sit in Firehose for at most 60 s, encrypted with an AWS-owned key; a customer key would add a key policy per deployment and KMS charges per record.
  for_each    = local.deliveries
  name        = each.value.name
  destination = "extended_s3"

  server_side_encryption {
    enabled  = true
    key_type = "AWS_OWNED_CMK"
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = aws_s3_bucket.landing.arn
    prefix              = each.value.prefix
    error_output_prefix = "${local.firehose_error_prefix}${each.key}/!{firehose:error-output-type}/"
    # 128 MiB or 60 s, whichever comes first: about a minute from frame to object.
    buffering_size     = var.firehose_buffer_mib
    buffering_interval = var.firehose_buffer_seconds
    compression_format = "UNCOMPRESSED"

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose[each.key].name
      log_stream_name = aws_cloudwatch_log_stream.firehose[each.key].name
    }
  }

  # The role must be allowed to write before the stream exists: Firehose checks it at
  # creation, and records put before the policy lands would fail delivery.
  depends_on = [aws_iam_role_policy.firehose]
}
