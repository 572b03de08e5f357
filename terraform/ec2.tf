# The WebSocket streamer: one small Amazon Linux 2023 instance running a systemd service,
# installed at boot from the wheelhouse uploaded here (make streamer-package), offline.

data "aws_ssm_parameter" "al2023" {
  # The latest Amazon Linux 2023 AMI for the instance type's architecture.
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${local.streamer_arch}"
}

data "aws_ec2_instance_type" "streamer" {
  instance_type = var.streamer_instance_type
}

# Not every Availability Zone offers every instance type (t4g is missing from some zones
# of older regions): only subnets in a zone that offers it are candidates.
data "aws_ec2_instance_type_offerings" "streamer" {
  location_type = "availability-zone"

  filter {
    name   = "instance-type"
    values = [var.streamer_instance_type]
  }
}

data "aws_vpc" "default" {
  count   = var.streamer_subnet_id == "" ? 1 : 0
  default = true
}

data "aws_subnets" "default" {
  count = var.streamer_subnet_id == "" ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default[0].id]
  }

  filter {
    name   = "default-for-az"
    values = ["true"]
  }

  filter {
    name   = "availability-zone"
    values = data.aws_ec2_instance_type_offerings.streamer.locations
  }
}

data "aws_subnet" "streamer" {
  # The lowest subnet id among the candidates: stable from one plan to the next.
  id = var.streamer_subnet_id != "" ? var.streamer_subnet_id : try(sort(data.aws_subnets.default[0].ids)[0], "")

  lifecycle {
    precondition {
      condition     = var.streamer_subnet_id != "" || length(try(data.aws_subnets.default[0].ids, [])) > 0
      error_message = "No default-VPC subnet is in an Availability Zone offering ${var.streamer_instance_type}: set streamer_subnet_id, or another streamer_instance_type."
    }
  }
}

locals {
  streamer_arch = contains(data.aws_ec2_instance_type.streamer.supported_architectures, "arm64") ? "arm64" : "x86_64"
  streamer_user_data = templatefile("${path.module}/templates/streamer-user-data.sh.tftpl", {
    region             = var.region
    bucket             = aws_s3_bucket.landing.bucket
    wheelhouse_key     = aws_s3_object.streamer_wheelhouse.key
    wheelhouse_sha256  = filesha256(var.streamer_wheelhouse)
    ws_url             = var.mempool_ws_url
    stream_delivery    = var.stream_delivery_name
    conversions_stream = var.conversions_delivery_name
    log_group          = aws_cloudwatch_log_group.streamer.name
    stop_timeout_s     = 60
  })
}

resource "aws_s3_object" "streamer_wheelhouse" {
  bucket       = aws_s3_bucket.landing.id
  key          = local.streamer_wheelhouse_key
  source       = var.streamer_wheelhouse
  source_hash  = filemd5(var.streamer_wheelhouse)
  content_type = "application/gzip"

  # The bucket encrypts and denies plain HTTP before anything is uploaded into it.
  depends_on = [aws_s3_bucket_server_side_encryption_configuration.landing, aws_s3_bucket_policy.landing]
}

resource "aws_cloudwatch_log_group" "streamer" {
  #checkov:skip=CKV_AWS_158:Counters and connection events hold no secrets; the default CloudWatch encryption applies.
  #checkov:skip=CKV_AWS_338:Retention is a cost choice (var.log_retention_days).
  name              = "/${var.name_prefix}/streamer"
  retention_in_days = var.log_retention_days
}

resource "aws_security_group" "streamer" {
  name        = "${var.name_prefix}-streamer"
  description = "Streamer: no inbound at all; outbound HTTPS to mempool.space and AWS APIs."
  vpc_id      = data.aws_subnet.streamer.vpc_id

  egress {
    description = "HTTPS and WSS to mempool.space, Firehose, S3, CloudWatch, SSM, dnf repositories"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"] #tfsec:ignore:aws-ec2-no-public-egress-sgr
  }
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "streamer" {
  name               = "${var.name_prefix}-streamer"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

data "aws_iam_policy_document" "streamer" {
  statement {
    sid       = "PutToItsTwoStreams"
    actions   = ["firehose:PutRecordBatch", "firehose:PutRecord"]
    resources = [for s in aws_kinesis_firehose_delivery_stream.landing : s.arn]
  }
  statement {
    sid       = "StoreOversizeRecords"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.landing.arn}/${local.prefixes.oversize}*"]
  }
  statement {
    # At a stop, what Firehose did not take is written beside Firehose's own objects
    # (FirehoseSink.rescue): the spool on the instance's disk dies with a replaced
    # instance. Only the rescued/ folder of each of its two streams' prefixes.
    sid     = "RescueSpooledRecordsAtStop"
    actions = ["s3:PutObject"]
    resources = [
      "${aws_s3_bucket.landing.arn}/${local.prefixes.stream}rescued/*",
      "${aws_s3_bucket.landing.arn}/${local.prefixes.conversions}rescued/*",
    ]
  }
  statement {
    # The boot script downloads exactly this object; no other artifact, no listing.
    sid       = "ReadItsWheelhouse"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.landing.arn}/${aws_s3_object.streamer_wheelhouse.key}"]
  }
  statement {
    # The service's log stream (CloudWatch agent) and the boot script's report
    # (<instance id>/boot): both in the streamer's own log group.
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.streamer.arn}:*"]
  }
}

resource "aws_iam_role_policy" "streamer" {
  name   = "stream"
  role   = aws_iam_role.streamer.id
  policy = data.aws_iam_policy_document.streamer.json
}

# Session Manager instead of SSH: no inbound port, no key pair. Not the managed
# AmazonSSMManagedInstanceCore, which also reads every SSM parameter of the account
# (ssm:GetParameter*), documents and associations: the instance needs none of them. These
# are the actions AWS's own Session-Manager-only profile grants
# (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSCloud9SSMInstanceProfile.html):
# registering the instance, and the session's control and data channels.
data "aws_iam_policy_document" "streamer_session_manager" {
  statement {
    # The agent registers the instance it runs on. Not narrowed to this instance's ARN:
    # the instance waits for this policy (depends_on below), which would be a cycle.
    sid       = "RegisterWithSystemsManager"
    actions   = ["ssm:UpdateInstanceInformation"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:instance/*"]
  }
  statement {
    #checkov:skip=CKV_AWS_111:The Session Manager channel actions support no resource-level permission; they only open channels for the calling instance.
    #checkov:skip=CKV_AWS_356:Same: ssmmessages has no resource type to name.
    sid = "SessionManagerChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "streamer_session_manager" {
  name   = "session-manager"
  role   = aws_iam_role.streamer.id
  policy = data.aws_iam_policy_document.streamer_session_manager.json
}

resource "aws_iam_instance_profile" "streamer" {
  name = "${var.name_prefix}-streamer"
  role = aws_iam_role.streamer.name
}

resource "aws_instance" "streamer" {
  ami                    = data.aws_ssm_parameter.al2023.value
  instance_type          = var.streamer_instance_type
  subnet_id              = data.aws_subnet.streamer.id
  vpc_security_group_ids = [aws_security_group.streamer.id]
  iam_instance_profile   = aws_iam_instance_profile.streamer.name
  monitoring             = true
  ebs_optimized          = true
  user_data              = local.streamer_user_data
  # A new configuration means a new instance: the service is set up once, at boot. A new
  # wheelhouse changes its sha256 in user_data, so new code is a new instance too.
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = 8
  }

  tags = { Name = "${var.name_prefix}-streamer" }

  lifecycle {
    # The AMI parameter moves with every Amazon Linux release; replace the instance on
    # purpose (taint or a user_data change), not on every plan.
    ignore_changes = [ami]

    precondition {
      condition     = local.streamer_arch == "arm64"
      error_message = "streamer_instance_type must be a Graviton (arm64) type such as t4g.micro: the wheelhouse (make streamer-package) holds aarch64 wheels."
    }
    precondition {
      condition     = contains(data.aws_ec2_instance_type_offerings.streamer.locations, data.aws_subnet.streamer.availability_zone)
      error_message = "The streamer's subnet is in ${data.aws_subnet.streamer.availability_zone}, which does not offer ${var.streamer_instance_type}: choose a subnet in one of ${join(", ", data.aws_ec2_instance_type_offerings.streamer.locations)}."
    }
  }

  # The boot script reads the wheelhouse and writes its report with the role's policies:
  # both must exist before the instance starts.
  depends_on = [aws_iam_role_policy.streamer, aws_iam_role_policy.streamer_session_manager]
}
