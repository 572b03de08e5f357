terraform {
  # 1.11: S3 native state locking (use_lockfile) is generally available.
  required_version = ">= 1.11.0, < 2.0.0"

  # State in S3, configured at init (`-backend-config=bucket=...`, docs/deploy.md), so no
  # account detail is written here. `terraform init -backend=false` for offline checks.
  backend "s3" {
    # A lock object next to the state (S3 conditional writes): two applies (CI and a
    # laptop, or two CI runs) can never write the state at once. No DynamoDB table.
    use_lockfile = true
  }

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.81.0 made aws_iam_openid_connect_provider's thumbprint_list optional (github.tf
      # sets none: IAM verifies GitHub's OIDC endpoint with its own trusted CAs).
      version = ">= 5.81.0, < 6.0.0"
    }
  }
}
