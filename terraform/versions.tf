terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  # State in S3, configured at init (`-backend-config=bucket=...`, docs/deploy.md), so no
  # account detail is written here. `terraform init -backend=false` for offline checks.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}
