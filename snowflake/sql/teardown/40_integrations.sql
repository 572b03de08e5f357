-- Teardown: the integrations, as ACCOUNTADMIN (their owner), after the stage and tasks
-- that used them went with the database. The IAM roles that trust them are Terraform's
-- (`terraform destroy`).
-- https://docs.snowflake.com/en/sql-reference/sql/drop-integration
DROP INTEGRATION IF EXISTS <% storage_integration %>;
DROP INTEGRATION IF EXISTS <% error_integration %>;
