# The WebSocket streamers: an Auto Scaling group of small Amazon Linux 2023 instances
# (var.streamer_count, in different Availability Zones), each running a systemd service
# with its own connection to mempool.space, installed at boot from the wheelhouse
# uploaded here (make streamer-package), offline. mempool.space's WebSocket replays
# nothing: two streamers mean a reboot, a zone's outage or a replacement leaves another
# one streaming, and the rolling refresh below replaces them one at a time, a new one
# first, the old one only once the new one streams.

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
  count   = length(var.streamer_subnet_ids) == 0 ? 1 : 0
  default = true
}

# The default VPC has one default subnet per Availability Zone: these are one per zone
# offering the instance type.
data "aws_subnets" "default" {
  count = length(var.streamer_subnet_ids) == 0 ? 1 : 0

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
  # The subnets given win; otherwise every default subnet found above.
  for_each = toset(length(var.streamer_subnet_ids) > 0 ? var.streamer_subnet_ids : try(data.aws_subnets.default[0].ids, []))
  id       = each.value
}

module "streamer_placement" {
  # The checks on those subnets (offered zone, one VPC, two zones for two streamers).
  source = "./modules/streamer_placement"
  subnets = {
    for id, s in data.aws_subnet.streamer : id => { availability_zone = s.availability_zone, vpc_id = s.vpc_id }
  }
  offered_zones  = data.aws_ec2_instance_type_offerings.streamer.locations
  instance_count = var.streamer_count
  instance_type  = var.streamer_instance_type
}

locals {
  streamer_arch = contains(data.aws_ec2_instance_type.streamer.supported_architectures, "arm64") ? "arm64" : "x86_64"
  # Names known before anything is created: the boot script and the role's policy name
  # the group, and the group waits for both (a reference to the group itself would be a
  # cycle).
  streamer_group_name  = "${var.name_prefix}-streamer"
  streamer_launch_hook = "${var.name_prefix}-streamer-streaming"
  # A replacement's surge: one instance above the desired count (150% of 2 is 3; 200% of
  # 1 is 2), so a refresh replaces one streamer at a time. Where 100 is not a multiple of
  # the count, Auto Scaling's rounding may allow one more, never fewer.
  streamer_max_healthy_percentage = min(200, 100 + ceil(100 / var.streamer_count))
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
    asg_name           = local.streamer_group_name
    launch_hook        = local.streamer_launch_hook
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
  vpc_id      = module.streamer_placement.vpc_id

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
    # The streamer says it is streaming (ingest/launch_hook.py): the launch lifecycle
    # hook's CONTINUE, which makes a new instance InService. Only on its own group. A
    # group's ARN holds an id Auto Scaling generates, and the group waits for this policy
    # (its instances must read the wheelhouse), so the id is a wildcard and the group's
    # name is exact: the resource form AWS documents for a group by name
    # (autoScalingGroup:*:autoScalingGroupName/<name>). Nothing else of Auto Scaling.
    sid       = "CompleteItsLaunchHook"
    actions   = ["autoscaling:CompleteLifecycleAction"]
    resources = ["arn:${local.partition}:autoscaling:${var.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.streamer_group_name}"]
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
    # The agent registers the instance it runs on. Not narrowed to the instances' ARNs:
    # the group launches them, with ids nobody knows beforehand.
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

# What every streamer is launched from. Any change to it (the boot script, which holds
# the wheelhouse's sha256, so every new wheelhouse; a new Amazon Linux AMI; the instance
# type) is a new version, the group's launch_template.version follows it, and that change
# starts the group's instance refresh.
resource "aws_launch_template" "streamer" {
  name        = local.streamer_group_name
  description = "mempool.space WebSocket streamer (Firehose); one version per boot script and AMI"
  # insecure_value: the AMI id is public, and a plan then shows it changing.
  image_id               = data.aws_ssm_parameter.al2023.insecure_value
  instance_type          = var.streamer_instance_type
  vpc_security_group_ids = [aws_security_group.streamer.id]
  ebs_optimized          = "true"
  user_data              = base64encode(local.streamer_user_data)
  # The version the group launches is named below; the default follows it for the console.
  update_default_version = true

  iam_instance_profile {
    name = aws_iam_instance_profile.streamer.name
  }

  monitoring {
    enabled = true
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    # Amazon Linux 2023's root device.
    device_name = "/dev/xvda"
    ebs {
      encrypted             = true
      volume_type           = "gp3"
      volume_size           = 8
      delete_on_termination = "true"
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = local.streamer_group_name }
  }

  tag_specifications {
    resource_type = "volume"
    tags          = { Name = local.streamer_group_name }
  }

  lifecycle {
    precondition {
      condition     = local.streamer_arch == "arm64"
      error_message = "streamer_instance_type must be a Graviton (arm64) type such as t4g.micro: the wheelhouse (make streamer-package) holds aarch64 wheels."
    }
  }
}

resource "aws_autoscaling_group" "streamer" {
  name = local.streamer_group_name
  # No scaling policy: always streamer_count streamers. Room above it for the
  # replacements a refresh or a health replacement launches before terminating.
  min_size            = var.streamer_count
  desired_capacity    = var.streamer_count
  max_size            = var.streamer_count * 2
  vpc_zone_identifier = module.streamer_placement.subnet_ids
  health_check_type   = "EC2"
  # After InService (which the launch hook below holds back until the streamer streams),
  # a short wait before a refresh moves on to the next instance.
  default_instance_warmup = 60
  # A new instance boots, installs (dnf, pip) and delivers its first batch before it is
  # InService: an apply waits for that, longer than the hook's heartbeat, and fails if the
  # streamers never stream.
  wait_for_capacity_timeout = "20m"

  launch_template {
    id = aws_launch_template.streamer.id
    # The version number, not "$Latest": a new version changes this argument, which is
    # what starts the instance refresh (and what a rollback could return to).
    version = aws_launch_template.streamer.latest_version
  }

  # Every replacement (an unhealthy instance, a zone rebalance) launches first and
  # terminates the old instance only when the new one is InService.
  instance_maintenance_policy {
    min_healthy_percentage = 100
    max_healthy_percentage = local.streamer_max_healthy_percentage
  }

  # A new launch template version (boot script, wheelhouse, AMI) replaces the streamers
  # one at a time: launch one (max_healthy), wait until it is InService (it completed
  # the launch hook: it streams), terminate an old one (never below 100% healthy), next.
  # A new version that never streams is abandoned and retried while the old streamers
  # keep streaming; the refresh then fails and nothing old was terminated.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = local.streamer_max_healthy_percentage
      # A refresh restarted after a failure replaces only what is not yet on the version.
      skip_matching = true
    }
  }

  # Holds every new instance in Pending:Wait until the streamer completes the action with
  # CONTINUE after its first batch Firehose accepted (ingest/launch_hook.py, named by the
  # boot script's MEMPOOL_ASG_NAME and MEMPOOL_LAUNCH_HOOK); no answer within the
  # heartbeat and the instance is abandoned (terminated and replaced). An initial hook
  # (not a separate aws_autoscaling_lifecycle_hook) so that it holds the group's very
  # first instances too; AWS applies it only when the group is created.
  initial_lifecycle_hook {
    name                 = local.streamer_launch_hook
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    default_result       = "ABANDON"
    # Boot (dnf, pip: a few minutes on a t4g.micro) and the first Firehose delivery.
    heartbeat_timeout = 900
  }

  tag {
    key                 = "Name"
    value               = local.streamer_group_name
    propagate_at_launch = true
  }

  tag {
    # What the streamer workflow's start restores after a stop (desired capacity 0).
    key                 = "StreamerCount"
    value               = tostring(var.streamer_count)
    propagate_at_launch = false
  }

  # The boot script reads the wheelhouse and writes its report with the role's policies,
  # and the streamer completes the hook with it: all must exist before an instance starts.
  depends_on = [aws_iam_role_policy.streamer, aws_iam_role_policy.streamer_session_manager]
}

# Until this release the streamer was one aws_instance. Forgotten, not destroyed: it keeps
# streaming while the group's first instances boot and complete their hook (an apply
# waits for that), so the move leaves no gap; then terminate it by hand
# (docs/deploy.md, "One streamer or several").
removed {
  from = aws_instance.streamer

  lifecycle {
    destroy = false
  }
}
