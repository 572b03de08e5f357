-- The landing zone as Snowflake sees it: file format and external stage. Run as INGEST.

-- Each line is loaded as text and parsed in the pipe, so a line that is not JSON is
-- still loaded (as a NULL record, its text kept) and reaches OPS.QUARANTINE with its
-- file and row instead of failing the file. Invalid UTF-8 is replaced with U+FFFD
-- rather than failing the file (a load error would skip the whole file under
-- Snowpipe's default ON_ERROR = SKIP_FILE); LOAD_EVENTS quarantines such lines.
-- https://docs.snowflake.com/en/sql-reference/sql/create-file-format (REPLACE_INVALID_CHARACTERS)
CREATE FILE FORMAT IF NOT EXISTS <% database %>.RAW.NDJSON_LINES
  TYPE = CSV
  FIELD_DELIMITER = NONE
  RECORD_DELIMITER = '\n'
  ESCAPE = NONE
  ESCAPE_UNENCLOSED_FIELD = NONE
  FIELD_OPTIONALLY_ENCLOSED_BY = NONE
  ENCODING = 'UTF8'
  REPLACE_INVALID_CHARACTERS = TRUE
  -- A byte-order mark before a file's first line is not part of the record (Snowflake's
  -- default, stated so that the local pipe emulation follows it too).
  SKIP_BYTE_ORDER_MARK = TRUE;
-- A format created by an earlier deploy gets today's options too.
ALTER FILE FORMAT <% database %>.RAW.NDJSON_LINES SET REPLACE_INVALID_CHARACTERS = TRUE
  SKIP_BYTE_ORDER_MARK = TRUE;

CREATE STAGE IF NOT EXISTS <% database %>.RAW.LANDING
  URL = 's3://<% bucket %>/mempool-data/'
  STORAGE_INTEGRATION = <% storage_integration %>
  FILE_FORMAT = <% database %>.RAW.NDJSON_LINES;
