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

locals {
  # Which workflow runs may assume which role, and what the role may do.
  github_roles = local.github ? {
    plan = {
      subjects = ["repo:${var.github_repository}:pull_request"]
      # `terraform plan -lock=false` reads the state and every resource; it changes nothing.
      policy = "ReadOnlyAccess"
    }
    apply = {
      subjects = [
        "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}",
        "repo:${var.github_repository}:environment:production",
      ]
      # Applying creates IAM roles, S3, Firehose, Lambda, EC2, SNS and SQS resources: that
      # takes broad rights. Add a permissions boundary if your organisation uses one.
      policy = "AdministratorAccess"
    }
  } : {}
}

data "aws_iam_policy_document" "github_trust" {
  for_each = local.github_roles
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
      values   = each.value.subjects
    }
  }
}

resource "aws_iam_role" "github" {
  for_each           = local.github_roles
  name               = "${var.name_prefix}-github-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.github_trust[each.key].json
}

resource "aws_iam_role_policy_attachment" "github" {
  #checkov:skip=CKV_AWS_274:The apply role applies this whole configuration, IAM included; only main and the production environment may assume it.
  for_each   = local.github_roles
  role       = aws_iam_role.github[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value.policy}"
}
