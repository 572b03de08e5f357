# The WebSocket streamer: one small Amazon Linux 2023 instance running a systemd service.

data "aws_ssm_parameter" "al2023" {
  # The latest Amazon Linux 2023 AMI for the instance type's architecture.
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${local.streamer_arch}"
}

data "aws_ec2_instance_type" "streamer" {
  instance_type = var.streamer_instance_type
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
}

data "aws_subnet" "streamer" {
  id = var.streamer_subnet_id != "" ? var.streamer_subnet_id : sort(data.aws_subnets.default[0].ids)[0]
}

locals {
  streamer_arch = contains(data.aws_ec2_instance_type.streamer.supported_architectures, "arm64") ? "arm64" : "x86_64"
  streamer_user_data = templatefile("${path.module}/templates/streamer-user-data.sh.tftpl", {
    package            = var.streamer_package
    region             = var.region
    bucket             = aws_s3_bucket.landing.bucket
    ws_url             = var.mempool_ws_url
    stream_delivery    = var.stream_delivery_name
    conversions_stream = var.conversions_delivery_name
    log_group          = aws_cloudwatch_log_group.streamer.name
    stop_timeout_s     = 60
  })
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
    description = "HTTPS and WSS to mempool.space, Firehose, S3, CloudWatch, SSM"
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

resource "aws_iam_role_policy_attachment" "streamer_ssm" {
  # Session Manager instead of SSH: no inbound port, no key pair.
  role       = aws_iam_role.streamer.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
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
  # A new configuration means a new instance: the service is set up once, at boot.
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
  }
}
