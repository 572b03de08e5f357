# Optional: GitHub Actions assume these roles through OIDC; no long-lived AWS key is
# stored in GitHub. Each role trusts exactly one `sub` claim of GitHub's token:
#   plan      repo:<owner/name>:pull_request            read-only, for `terraform plan`
#   apply     repo:<owner/name>:environment:production  applies this configuration
#   streamer  repo:<owner/name>:environment:streamer    starts and stops the streamers
# A job that names an environment gets that environment's subject, whatever its branch,
# and only after the environment's protection rules (required reviewers, allowed
# branches) let it run. Trusting `ref:refs/heads/main` as well would let any job on main
# that names no environment assume the apply role, past those reviewers.

locals {
  github = var.github_repository != ""
  github_subjects = {
    pull_requests = "repo:${var.github_repository}:pull_request"
    production    = "repo:${var.github_repository}:environment:production"
    # Its own environment, so that the job that may start and stop the streamers cannot
    # assume the apply role (and the apply job gains nothing from this role).
    streamer = "repo:${var.github_repository}:environment:streamer"
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  # No thumbprint_list (optional since AWS provider 5.81.0): IAM verifies GitHub's OIDC
  # endpoint with its library of trusted root CAs.
  count          = local.github ? 1 : 0
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

locals {
  # Which workflow runs may assume which role, and what the role may do: an AWS managed
  # policy, or "" for the inline policy below.
  github_roles = local.github ? {
    plan = {
      subject = local.github_subjects.pull_requests
      # `terraform plan -lock=false` reads the state and every resource; it changes nothing.
      policy = "ReadOnlyAccess"
    }
    apply = {
      subject = local.github_subjects.production
      # Applying creates IAM roles, S3, Firehose, Lambda, EC2, SNS, SQS and SSM resources:
      # that takes broad rights. Add a permissions boundary if your organisation uses one.
      policy = "AdministratorAccess"
    }
    streamer = {
      subject = local.github_subjects.streamer
      policy  = ""
    }
  } : {}
  github_managed_policies = { for k, r in local.github_roles : k => r.policy if r.policy != "" }
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
      values   = [each.value.subject]
    }
  }
}

resource "aws_iam_role" "github" {
  for_each           = local.github_roles
  name               = "${var.name_prefix}-github-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.github_trust[each.key].json
}

resource "aws_iam_role_policy_attachment" "github" {
  #checkov:skip=CKV_AWS_274:The apply role applies this whole configuration, IAM included; only jobs in the production environment (its required reviewers) may assume it.
  for_each   = local.github_managed_policies
  role       = aws_iam_role.github[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

# What streamer.yml does: stop the streamers (the group's desired capacity to 0: a
# stopped instance in an Auto Scaling group is unhealthy and gets replaced) or start them
# again (back to the count the group's StreamerCount tag holds), and wait for it.
data "aws_iam_policy_document" "github_streamer" {
  statement {
    # Only the streamers' group: the group id in its ARN is generated, its name is ours.
    sid       = "ResizeTheStreamerGroupOnly"
    actions   = ["autoscaling:UpdateAutoScalingGroup"]
    resources = ["arn:${local.partition}:autoscaling:${var.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.streamer_group_name}"]
  }
  statement {
    # Reading the group's tag and watching its instances come and go.
    # DescribeAutoScalingGroups supports no resource-level permission: it reads, never
    # changes, any group.
    sid       = "WaitForItsInstances"
    actions   = ["autoscaling:DescribeAutoScalingGroups"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "github_streamer" {
  count  = local.github ? 1 : 0
  name   = "start-stop-streamer"
  role   = aws_iam_role.github["streamer"].id
  policy = data.aws_iam_policy_document.github_streamer.json
}
