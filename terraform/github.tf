# Optional: GitHub Actions assume these roles through OIDC; no long-lived AWS key is
# stored in GitHub. Pull requests get a read-only role for `terraform plan`; only the
# given branch and the `production` environment (with its required reviewers) get the
# role that applies.

locals {
  github = var.github_repository != ""
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = local.github ? 1 : 0
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "github_plan_trust" {
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
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:pull_request"]
    }
  }
}

data "aws_iam_policy_document" "github_apply_trust" {
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
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}",
        "repo:${var.github_repository}:environment:production",
      ]
    }
  }
}

resource "aws_iam_role" "github_plan" {
  count              = local.github ? 1 : 0
  name               = "${var.name_prefix}-github-plan"
  assume_role_policy = data.aws_iam_policy_document.github_plan_trust[0].json
}

resource "aws_iam_role_policy_attachment" "github_plan" {
  # `terraform plan -lock=false` reads the state and every resource; it changes nothing.
  count      = local.github ? 1 : 0
  role       = aws_iam_role.github_plan[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

resource "aws_iam_role" "github_apply" {
  count              = local.github ? 1 : 0
  name               = "${var.name_prefix}-github-apply"
  assume_role_policy = data.aws_iam_policy_document.github_apply_trust[0].json
}

resource "aws_iam_role_policy_attachment" "github_apply" {
  # Applying this configuration creates IAM roles, S3, Firehose, Lambda, EC2, SNS and
  # SQS resources: that takes broad rights. Add a permissions boundary if your
  # organisation uses one.
  #checkov:skip=CKV_AWS_274:The apply role applies this whole configuration, IAM included; only main and the production environment may assume it.
  count      = local.github ? 1 : 0
  role       = aws_iam_role.github_apply[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AdministratorAccess"
}
