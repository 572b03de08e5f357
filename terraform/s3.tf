# The landing bucket: private, encrypted, TLS only, versioned, expiring raw landing.

resource "aws_s3_bucket" "landing" {
  #checkov:skip=CKV_AWS_18:Access logging would need a second bucket per deployment; CloudTrail data events are the recommended audit trail and are account-wide.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; the landing zone is re-creatable from mempool.space history (backfill).
  #checkov:skip=CKV_AWS_145:SSE-S3 encryption: a customer KMS key would also have to be granted to Snowflake's storage role and Firehose for no added protection here.
  bucket = local.bucket_name
  # Without this a non-empty bucket cannot be destroyed: the raw history is protected
  # unless the operator explicitly allows its deletion.
  force_destroy = var.allow_destroy
}

resource "aws_s3_bucket_public_access_block" "landing" {
  bucket                  = aws_s3_bucket.landing.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "landing" {
  bucket = aws_s3_bucket.landing.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "landing" {
  bucket = aws_s3_bucket.landing.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "landing" {
  bucket = aws_s3_bucket.landing.id
  versioning_configuration {
    # The poller's state object relies on conditional writes; an overwritten landing
    # object stays recoverable for noncurrent_version_days.
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "landing" {
  bucket = aws_s3_bucket.landing.id

  rule {
    id     = "expire-raw-landing"
    status = "Enabled"
    filter {
      prefix = "${local.landing_root}/"
    }
    expiration {
      days = var.landing_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Versioning keeps what is overwritten or deleted: everywhere in the bucket (the
  # streamer's artifacts/ too), old versions go after noncurrent_version_days, and a
  # delete marker left with no version behind it (the landing expiry makes one per
  # object) is removed, or they would pile up for ever and slow every listing.
  rule {
    id     = "expire-old-versions-and-delete-markers"
    status = "Enabled"
    filter {}
    expiration {
      expired_object_delete_marker = true
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
  }

  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"
    filter {
      prefix = "state/"
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "landing_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.landing.arn, "${aws_s3_bucket.landing.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "landing" {
  bucket = aws_s3_bucket.landing.id
  policy = data.aws_iam_policy_document.landing_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.landing]
}

# Snowpipe auto-ingest: every object created under a landing prefix is announced on the
# pipes' SQS queue (one queue per Snowflake account). The queue ARN comes from
# `SHOW PIPES` after the Snowflake deploy, through the SSM parameter snowpipe_queue_arn
# (snowflake.tf): every apply reads it, so none can remove the notifications.
resource "aws_s3_bucket_notification" "snowpipe" {
  count  = local.snowpipe_queue_arn == "" ? 0 : 1
  bucket = aws_s3_bucket.landing.id

  dynamic "queue" {
    for_each = local.prefixes
    content {
      id            = "snowpipe-${queue.key}"
      queue_arn     = local.snowpipe_queue_arn
      events        = ["s3:ObjectCreated:*"]
      filter_prefix = queue.value
    }
  }

  lifecycle {
    precondition {
      condition     = can(regex("^arn:aws[a-z-]*:sqs:", local.snowpipe_queue_arn))
      error_message = "SSM parameter /${var.name_prefix}/snowflake/snowpipe_queue_arn must be an SQS queue ARN (the pipes' notification_channel)."
    }
  }
}
