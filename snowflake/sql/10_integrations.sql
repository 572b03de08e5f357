-- Account-level integrations. Run as ACCOUNTADMIN (only it may CREATE INTEGRATION):
--   mempool deploy --connection NAME --only integrations
-- After the first run, `DESC INTEGRATION <% storage_integration %>` gives
-- STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID, and
-- `DESC INTEGRATION <% error_integration %>` gives SF_AWS_IAM_USER_ARN and
-- SF_AWS_EXTERNAL_ID: Terraform's second apply writes them into the trust policies.

CREATE STORAGE INTEGRATION IF NOT EXISTS <% storage_integration %>
  TYPE = EXTERNAL_STAGE
  STORAGE_PROVIDER = 'S3'
  ENABLED = TRUE
  STORAGE_AWS_ROLE_ARN = '<% storage_role_arn %>'
  STORAGE_ALLOWED_LOCATIONS = ('s3://<% bucket %>/mempool-data/');

-- Task failures (SUSPEND_TASK_AFTER_NUM_FAILURES, ERROR_INTEGRATION) go to an SNS topic.
CREATE NOTIFICATION INTEGRATION IF NOT EXISTS <% error_integration %>
  ENABLED = TRUE
  TYPE = QUEUE
  DIRECTION = OUTBOUND
  NOTIFICATION_PROVIDER = AWS_SNS
  AWS_SNS_TOPIC_ARN = '<% error_topic_arn %>'
  AWS_SNS_ROLE_ARN = '<% error_role_arn %>';

GRANT USAGE ON INTEGRATION <% storage_integration %> TO ROLE <% ingest_role %>;
GRANT USAGE ON INTEGRATION <% error_integration %> TO ROLE <% transform_role %>;
