-- Teardown, last: the CI users and the roles, as SECURITYADMIN, which created them. Last
-- because every earlier step runs as one of these roles, and a role dropped while it
-- still owned objects would hand them to SECURITYADMIN. The users go first: nothing
-- signs in with the CI keys afterwards.
-- https://docs.snowflake.com/en/sql-reference/sql/drop-user
-- https://docs.snowflake.com/en/sql-reference/sql/drop-role
DROP USER IF EXISTS <% deploy_user %>;
DROP USER IF EXISTS <% gold_user %>;
DROP ROLE IF EXISTS <% gold_role %>;
DROP ROLE IF EXISTS <% read_role %>;
DROP ROLE IF EXISTS <% transform_role %>;
DROP ROLE IF EXISTS <% ingest_role %>;
