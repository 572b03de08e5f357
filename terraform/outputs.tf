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

output "streamer_group" {
  description = "Auto Scaling group of the streamers (streamer_count instances, each with its own connection); a new wheelhouse or boot script replaces them one at a time."
  value       = aws_autoscaling_group.streamer.name
}

output "streamer_zones" {
  description = "Availability Zones the streamers spread over."
  value       = module.streamer_placement.zones
}

output "github_plan_role_arn" {
  description = "Read-only role pull requests assume for `terraform plan` (empty without github_repository)."
  value       = local.github ? aws_iam_role.github["plan"].arn : ""
}

output "github_apply_role_arn" {
  description = "Role jobs in the `production` environment assume to apply (empty without github_repository)."
  value       = local.github ? aws_iam_role.github["apply"].arn : ""
}

output "github_streamer_role_arn" {
  description = "Role streamer.yml (environment `streamer`) assumes to start or stop the streamers: AWS_STREAMER_ROLE_ARN (empty without github_repository)."
  value       = local.github ? aws_iam_role.github["streamer"].arn : ""
}

output "streamer_wheelhouse" {
  description = "Where the streamer's wheelhouse (make streamer-package) was uploaded; the instance installs it at boot."
  value       = "s3://${aws_s3_bucket.landing.bucket}/${aws_s3_object.streamer_wheelhouse.key}"
}

output "snowflake_parameters" {
  description = "SSM parameters the operator writes after the Snowflake deploy (`aws ssm put-parameter --overwrite`, docs/deploy.md), by what each holds."
  value       = { for k, p in aws_ssm_parameter.snowflake : k => p.name }
}

output "snowflake_trust_configured" {
  description = "Whether Snowflake's principals (SSM parameters) are in both trust policies and the pipes' queue in the bucket notifications."
  value       = local.storage_trusted && local.errors_trusted && local.snowpipe_queue_arn != ""
}
