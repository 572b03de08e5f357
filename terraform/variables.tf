variable "region" {
  description = "AWS region for every resource (the Snowflake account should be in the same region to avoid egress charges)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "mempool"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix: 2-21 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "bucket_name" {
  description = "Landing bucket name; empty means <name_prefix>-landing-<account id>."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name."
  }
}

variable "landing_retention_days" {
  description = "Days raw landing objects are kept (Snowflake has loaded them long before; they are the replay source)."
  type        = number
  default     = 90

  validation {
    condition     = var.landing_retention_days >= 14
    error_message = "Keep landing objects at least 14 days: Snowpipe's load history (file dedup) lasts 14 days."
  }
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "allow_destroy" {
  description = "Let `terraform destroy` delete the landing bucket with its data. Off by default: the bucket holds the only copy of raw history."
  type        = bool
  default     = false
}

variable "stream_delivery_name" {
  description = "Firehose stream for every WebSocket topic except conversions."
  type        = string
  default     = "mempool-stream"
}

variable "conversions_delivery_name" {
  description = "Firehose stream for conversions (prices)."
  type        = string
  default     = "mempool-conversions"
}

variable "firehose_buffer_mib" {
  description = "Firehose buffer size in MiB before a flush to S3."
  type        = number
  default     = 128

  validation {
    condition     = var.firehose_buffer_mib >= 1 && var.firehose_buffer_mib <= 128
    error_message = "Firehose buffers between 1 and 128 MiB."
  }
}

variable "firehose_buffer_seconds" {
  description = "Firehose buffer interval in seconds: the landing latency of the stream."
  type        = number
  default     = 60

  validation {
    condition     = var.firehose_buffer_seconds >= 0 && var.firehose_buffer_seconds <= 900
    error_message = "Firehose buffers between 0 and 900 seconds."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention for the poller, the streamer and Firehose."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "mempool_api_base" {
  description = "mempool.space REST API base URL (or your own instance)."
  type        = string
  default     = "https://mempool.space/api"

  validation {
    condition     = can(regex("^https://", var.mempool_api_base))
    error_message = "mempool_api_base must be an https URL."
  }
}

variable "mempool_ws_url" {
  description = "mempool.space WebSocket URL (or your own instance)."
  type        = string
  default     = "wss://mempool.space/api/v1/ws"

  validation {
    condition     = can(regex("^wss://", var.mempool_ws_url))
    error_message = "mempool_ws_url must be a wss URL."
  }
}

variable "lambda_package" {
  description = "The poller's Lambda package, built by `make lambda` (the artifact the tests invoke)."
  type        = string
  default     = "../output/lambda/poller.zip"
}

variable "lambda_runtime" {
  description = "Python runtime of the poller Lambda."
  type        = string
  default     = "python3.12"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.lambda_runtime)
    error_message = "Use a current Python runtime: python3.12 or python3.13."
  }
}

variable "poll_schedule" {
  description = "EventBridge schedule of the poller."
  type        = string
  default     = "rate(1 minute)"
}

variable "streamer_instance_type" {
  description = "EC2 instance type of the WebSocket streamer. A Graviton (arm64) type: the wheelhouse is built for aarch64. t4g.micro (1 GiB, about $6.1/month on demand in us-east-1) rather than t4g.nano (512 MiB, about $3.1): dnf on Amazon Linux 2023 gets OOM-killed on 512 MiB during the boot's package install."
  type        = string
  default     = "t4g.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.streamer_instance_type))
    error_message = "streamer_instance_type must look like t4g.micro."
  }
}

variable "streamer_wheelhouse" {
  description = "The streamer's wheelhouse, built by `make streamer-package` (the project wheel, every dependency wheel for AL2023 aarch64 / Python 3.11, and requirements.txt with a sha256 for each). Terraform uploads it; the instance installs it offline with pip --require-hashes."
  type        = string
  default     = "../output/streamer/wheelhouse.tar.gz"

  validation {
    condition     = endswith(var.streamer_wheelhouse, ".tar.gz")
    error_message = "streamer_wheelhouse must be the .tar.gz that `make streamer-package` writes."
  }
}

variable "streamer_count" {
  description = "How many streamers run at once, each with its own WebSocket connection, spread over Availability Zones (two or more need subnets in two zones). mempool.space replays nothing: with 2 (the default) a reboot, a zone's outage or a replacement leaves one streaming. Each extra one costs another streamer_instance_type instance (t4g.micro: about $6.1/month, plus its volume, detailed monitoring and public IPv4: docs/deploy.md). 1 saves that and accepts the gaps."
  type        = number
  default     = 2

  validation {
    condition     = var.streamer_count >= 1 && var.streamer_count == floor(var.streamer_count)
    error_message = "streamer_count must be a whole number, at least 1."
  }
}

variable "streamer_subnet_ids" {
  description = "Subnets the streamers may run in (each needs outbound internet and must be in an Availability Zone that offers streamer_instance_type; all in one VPC; two zones or more when streamer_count > 1). Empty: every default subnet of the default VPC in such a zone (one per zone)."
  type        = list(string)
  default     = []
}

variable "alert_email" {
  description = "Email address subscribed to the task-error SNS topic (AWS mails a confirmation link first; nothing is delivered until it is clicked). Empty subscribes nobody: failures then only reach whoever subscribes to the topic some other way."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an email address, or empty."
  }
}

variable "alert_subscriptions" {
  description = "More subscribers to the task-error SNS topic, which carries Snowflake's task failures and its alerts (snowflake/sql/80_alerts.sql) as JSON: a list of { protocol, endpoint }, protocol one of email, https, sqs, lambda. Email and https endpoints receive a confirmation first (the recipient clicks the link, or the https endpoint visits the SubscribeURL it is sent) and get nothing until then; an sqs or lambda endpoint must itself allow this topic (a queue policy allowing sns:SendMessage, or a Lambda permission for sns.amazonaws.com) and, in another account, confirm too. Empty adds none (alert_email still subscribes its one address)."
  type = list(object({
    protocol = string
    endpoint = string
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.alert_subscriptions : contains(["email", "https", "sqs", "lambda"], s.protocol)])
    error_message = "alert_subscriptions: protocol must be email, https, sqs or lambda (no plain http, no sms: alerts name the pipeline's objects)."
  }

  validation {
    condition = alltrue([for s in var.alert_subscriptions : (
      s.protocol == "email" ? can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", s.endpoint)) :
      s.protocol == "https" ? can(regex("^https://[^\\s]+$", s.endpoint)) :
      s.protocol == "sqs" ? can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\\.fifo)?$", s.endpoint)) :
      can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$", s.endpoint))
    )])
    error_message = "alert_subscriptions: an email endpoint is an address, an https one an https:// URL, an sqs one a queue ARN, a lambda one a function ARN."
  }

  validation {
    condition     = length(distinct([for s in var.alert_subscriptions : "${s.protocol} ${s.endpoint}"])) == length(var.alert_subscriptions)
    error_message = "alert_subscriptions: each { protocol, endpoint } once."
  }
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows may assume the deploy roles (plan on pull requests, apply in the `production` environment, start/stop the streamer in the `streamer` environment); empty creates no OIDC role."
  type        = string
  default     = ""
}
