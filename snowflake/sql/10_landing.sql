-- The landing zone as Snowflake sees it: storage integration, file format, stage.
--   snow sql -f snowflake/sql/10_landing.sql -D database=MEMPOOL \
--     -D bucket=my-landing-bucket -D storage_role_arn=arn:aws:iam::123456789012:role/mempool-snowflake
-- After creating the integration, DESC INTEGRATION gives STORAGE_AWS_IAM_USER_ARN and
-- STORAGE_AWS_EXTERNAL_ID for Terraform's trust policy (terraform/ variables).

CREATE STORAGE INTEGRATION IF NOT EXISTS <% database %>_LANDING
  TYPE = EXTERNAL_STAGE
  STORAGE_PROVIDER = 'S3'
  ENABLED = TRUE
  STORAGE_AWS_ROLE_ARN = '<% storage_role_arn %>'
  STORAGE_ALLOWED_LOCATIONS = ('s3://<% bucket %>/mempool-data/');

-- Each line is loaded as text and parsed in the pipe, so a line that is not JSON is
-- still loaded (as a NULL record) and reaches OPS.QUARANTINE with its file and row
-- instead of being skipped by the JSON parser.
CREATE FILE FORMAT IF NOT EXISTS <% database %>.RAW.NDJSON_LINES
  TYPE = CSV
  FIELD_DELIMITER = NONE
  RECORD_DELIMITER = '\n'
  ESCAPE = NONE
  ESCAPE_UNENCLOSED_FIELD = NONE
  FIELD_OPTIONALLY_ENCLOSED_BY = NONE
  ENCODING = 'UTF8';

CREATE STAGE IF NOT EXISTS <% database %>.RAW.LANDING
  URL = 's3://<% bucket %>/mempool-data/'
  STORAGE_INTEGRATION = <% database %>_LANDING
  FILE_FORMAT = <% database %>.RAW.NDJSON_LINES;
