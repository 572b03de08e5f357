# The AWS half of the mempool platform: landing bucket, Firehose streams, the Lambda
# poller, the EC2 streamer, and what Snowflake needs to read the bucket and report task
# failures. Resources are split by concern into the files beside this one.

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "mempool-platform", ManagedBy = "terraform" }, var.tags)
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # The contract's landing prefixes (docs/data-contract.md). Snowflake's stage points at
  # mempool-data/ and has one pipe per prefix; the tests check these against the SQL.
  landing_root = "mempool-data"
  prefixes = {
    stream      = "${local.landing_root}/stream/"
    conversions = "${local.landing_root}/conversions/"
    blocks      = "${local.landing_root}/blocks/"
    prices      = "${local.landing_root}/prices/"
    stats       = "${local.landing_root}/stats/"
    oversize    = "${local.landing_root}/oversize/"
  }
  # Where Firehose writes what it could not deliver (never loaded by Snowpipe).
  firehose_error_prefix = "${local.landing_root}/firehose-errors/"
  poller_state_key      = "state/poller.json"
  # The streamer's wheelhouse (make streamer-package), outside every landing prefix: no
  # pipe loads it and Snowflake's role cannot read it.
  streamer_wheelhouse_key = "artifacts/streamer/wheelhouse.tar.gz"

  bucket_name = coalesce(var.bucket_name, "${var.name_prefix}-landing-${local.account_id}")
}
