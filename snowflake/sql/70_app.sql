-- The dashboard runs with its owner's (TRANSFORM's) rights; READ may open it.
-- https://docs.snowflake.com/en/developer-guide/streamlit/owners-rights
GRANT USAGE ON STREAMLIT <% database %>.GOLD.MEMPOOL_DASHBOARD TO ROLE <% read_role %>;
