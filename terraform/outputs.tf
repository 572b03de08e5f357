output "bucket" {
  description = "Landing bucket: `mempool deploy --bucket`."
  value       = aws_s3_bucket.landing.bucket
}

output "storage_role_arn" {
  description = "Role the Snowflake storage integration assumes: `mempool deploy --storage-role-arn`."
  value       = aws_iam_role.snowflake_storage.arn
}

output "error_topic_arn" {
  description = "SNS topic for task failures: `mempool deploy --error-topic-arn`."
  value       = aws_sns_topic.task_errors.arn
}

output "error_role_arn" {
  description = "Role the Snowflake notification integration assumes: `mempool deploy --error-role-arn`."
  value       = aws_iam_role.snowflake_errors.arn
}

output "delivery_streams" {
  description = "Firehose stream names by route."
  value       = { for k, s in aws_kinesis_firehose_delivery_stream.landing : k => s.name }
}

output "poller_function" {
  description = "Name of the poller Lambda."
  value       = aws_lambda_function.poller.function_name
}

output "poller_failures_queue" {
  description = "Queue holding failed poller invocations."
  value       = aws_sqs_queue.poller_failures.url
}

output "streamer_instance_id" {
  description = "EC2 instance of the streamer (start/stop it with the streamer workflow)."
  value       = aws_instance.streamer.id
}

output "github_plan_role_arn" {
  description = "Read-only role pull requests assume for `terraform plan` (empty without github_repository)."
  value       = local.github ? aws_iam_role.github["plan"].arn : ""
}

output "github_apply_role_arn" {
  description = "Role main and the production environment assume to apply (empty without github_repository)."
  value       = local.github ? aws_iam_role.github["apply"].arn : ""
}

output "snowflake_trust_configured" {
  description = "Whether the second apply has written Snowflake's principals into the trust policies."
  value       = local.storage_trusted && local.errors_trusted
}
