"""The AWS side in Terraform, checked offline: formatting (terraform fmt), security
(checkov, no downloads), the settings the platform depends on (parsed HCL), the
streamer's boot script (bash -n, shellcheck), the Lambda package (built and invoked),
and the local stack provisioned from these very files.

Length: one check per Terraform concern, sharing the parsed HCL and the Lambda fixtures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import hcl2
import pytest

from ingest import contract
from operations.lambda_package import HANDLER, build_lambda
from sandbox import aws_local
from sandbox.services import free_port
from sandbox.terraform_local import TF_DIR, read_landing
from tests.conftest import simulator_process

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EVENT = REPO / "tests" / "events" / "eventbridge-scheduled.json"


def tf_files() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            out[path.name] = hcl2.load(fh)
    return out


def resources(kind: str) -> dict[str, dict[str, Any]]:
    found = {}
    for doc in tf_files().values():
        for block in doc.get("resource", []):
            for k, named in block.items():
                if k.strip('"') == kind:
                    found.update({n.strip('"'): body for n, body in named.items()})
    return found


def only(kind: str) -> dict[str, Any]:
    (body,) = resources(kind).values()
    return body


def terraform_bin(what: str) -> str:
    """The Terraform `make pytest` installs and names in TERRAFORM_BIN (the locked wheel,
    requirements/terraform.txt), else one on PATH. Without either, pytest run by hand
    skips `what`; TERRAFORM_BIN named but missing fails: under make, nothing skips."""
    pinned = os.environ.get("TERRAFORM_BIN")
    if pinned:
        assert os.access(pinned, os.X_OK), f"TERRAFORM_BIN={pinned} is missing: make terraform"
        return pinned
    found = shutil.which("terraform")
    if found is None:
        pytest.skip(f"terraform is not installed: {what} not run (make pytest installs it)")
    return found


def test_the_tests_run_the_terraform_the_deploy_runs() -> None:
    """TERRAFORM_BIN (`make pytest`) is the version deploy-aws.yml's setup-terraform
    installs: the checks below hold for the Terraform that applies these files."""
    if not os.environ.get("TERRAFORM_BIN"):
        pytest.skip("TERRAFORM_BIN is not set: `make pytest` names the pinned Terraform")
    out = subprocess.run(
        [terraform_bin("the version check"), "version", "-json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
        timeout=60,
    )
    workflow = (REPO / ".github" / "workflows" / "deploy-aws.yml").read_text()
    pinned = set(re.findall(r'terraform_version:\s*"([^"]+)"', workflow))
    assert pinned == {json.loads(out.stdout)["terraform_version"]}, pinned


def test_terraform_fmt() -> None:
    terraform = terraform_bin("`terraform fmt -check`")
    out = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_checkov_finds_nothing_unjustified(tmp_path: Path) -> None:
    """Every skipped check is skipped inline with its reason (`#checkov:skip=ID:why`)."""
    out = subprocess.run(
        [
            os.environ.get("CHECKOV_BIN") or shutil.which("checkov") or str(BIN / "checkov"),
            "--directory",
            str(TF_DIR),
            "--framework",
            "terraform",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": str(tmp_path), "BC_SKIP_MAPPING": "TRUE"},
        timeout=600,
    )
    report = json.loads(out.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], [(c["check_id"], c["resource"], c["check_name"]) for c in failed]
    skipped = [c for r in reports for c in r["results"]["skipped_checks"]]
    assert skipped and all(
        len(c.get("check_result", {}).get("suppress_comment", "")) > 20 for c in skipped
    )
    passed = sum(r["summary"]["passed"] for r in reports)
    assert passed > 50


def test_every_variable_is_typed_and_described() -> None:
    for name, doc in tf_files().items():
        for block in doc.get("variable", []):
            for var, body in block.items():
                assert body.get("type"), f"{name}: {var} has no type"
                assert body.get("description"), f"{name}: {var} has no description"
    assert not list(TF_DIR.glob("*.tfvars")), "no tfvars with real values in the repository"


def test_landing_prefixes_are_the_contracts_and_the_pipes() -> None:
    landing = read_landing()
    contract_prefixes = {
        contract.PREFIX_STREAM,
        contract.PREFIX_CONVERSIONS,
        contract.PREFIX_BLOCKS,
        contract.PREFIX_PRICES,
        contract.PREFIX_STATS,
        contract.PREFIX_OVERSIZE,
    }
    assert set(landing.notification_prefixes) == contract_prefixes
    raw_sql = (REPO / "snowflake" / "sql" / "20_raw.sql").read_text()
    pipes = {f"mempool-data/{p}/" for p in re.findall(r"RAW\.LANDING/([\w-]+)/", raw_sql)}
    assert pipes == contract_prefixes
    assert {p for _, p in landing.deliveries.values()} == {
        contract.PREFIX_STREAM,
        contract.PREFIX_CONVERSIONS,
    }
    landing_sql = (REPO / "snowflake" / "sql" / "15_landing.sql").read_text()
    assert "/mempool-data/'" in landing_sql


def test_firehose_buffers_128_mib_or_60_s_with_errors_encryption_and_logs() -> None:
    landing = read_landing()
    assert (landing.buffer_mib, landing.buffer_seconds) == (128, 60)
    assert all(
        p.startswith("mempool-data/firehose-errors/") for p in landing.error_prefixes.values()
    )
    stream = only("aws_kinesis_firehose_delivery_stream")
    assert stream["server_side_encryption"][0]["enabled"] is True
    s3 = stream["extended_s3_configuration"][0]
    assert s3["cloudwatch_logging_options"][0]["enabled"] is True
    assert "processing_configuration" not in s3  # records already end with "\n"


def test_the_poller_lambda_is_bounded_and_reports_failures() -> None:
    fn = only("aws_lambda_function")
    assert fn["timeout"] == 10
    assert fn["handler"] == f'"{HANDLER}"'
    runtimes = tf_files()["variables.tf"]["variable"]
    runtime = next(b['"lambda_runtime"'] for b in runtimes if '"lambda_runtime"' in b)
    assert runtime["default"].strip('"') in ("python3.12", "python3.13")
    invoke = only("aws_lambda_function_event_invoke_config")
    assert "on_failure" in json.dumps(invoke["destination_config"])
    target = only("aws_cloudwatch_event_target")
    assert target["retry_policy"][0]["maximum_retry_attempts"] >= 1
    rule = only("aws_cloudwatch_event_rule")
    assert rule["schedule_expression"] == "${var.poll_schedule}"
    assert "rate(1 minute)" in (TF_DIR / "variables.tf").read_text()
    assert resources("aws_cloudwatch_log_group")["poller"]["retention_in_days"]


def test_the_poller_reserves_no_concurrency() -> None:
    """Lambda keeps a minimum of the account's concurrency unreserved: "You can reserve
    up to the Unreserved account concurrency value minus 100"
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html), and
    "New AWS accounts have reduced concurrency and memory quotas"
    (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): with a
    quota of 10, all of it is that minimum, and PutFunctionConcurrency is refused
    ("decreases account's UnreservedConcurrentExecution below its minimum value of
    [10]"), so the first apply fails. Overlapping runs are safe without it: the state
    changes only by conditional writes (tests/test_poller.py, two concurrent pollers)."""
    fn = only("aws_lambda_function")
    assert "reserved_concurrent_executions" not in fn
    assert not re.search(
        r"^\s*reserved_concurrent_executions\s*=", (TF_DIR / "lambda.tf").read_text(), re.M
    )


def test_the_poller_may_list_its_state_key_so_a_missing_state_is_404() -> None:
    """GetObject on a missing key: "If you don't have the s3:ListBucket permission,
    Amazon S3 returns an HTTP status code 403 ("access denied") error"
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). The poller's
    first run reads a state object that does not exist yet: without ListBucket it gets
    403, which StateStore.load cannot take for "no state", and every run fails. S3 puts
    the requested key in s3:prefix when it decides between 403 and 404, so listing can be
    limited to the state key alone."""
    poller = [s for s in policy_statements() if s["policy"] == "poller"]
    listing = [s for s in poller if '"s3:ListBucket"' in s["actions"]]
    assert len(listing) == 1, poller
    (st,) = listing
    assert st["actions"] == ['"s3:ListBucket"']
    assert st["resources"] == ["${aws_s3_bucket.landing.arn}"]
    (cond,) = st["condition"]
    assert (cond["test"], cond["variable"]) == ('"StringEquals"', '"s3:prefix"')
    assert cond["values"] == ["${local.poller_state_key}"]
    state = next(s for s in poller if '"s3:GetObject"' in s["actions"])
    assert state["resources"] == ['"${aws_s3_bucket.landing.arn}/${local.poller_state_key}"']
    fn = only("aws_lambda_function")
    assert fn["environment"][0]["variables"]["MEMPOOL_STATE_KEY"] == "${local.poller_state_key}"


def test_the_streamers_are_hardened() -> None:
    """What the single aws_instance had, now in the launch template every streamer is
    launched from: IMDSv2 only, an encrypted root volume, the instance profile, detailed
    monitoring, no inbound rule."""
    assert not resources("aws_instance")
    template = only("aws_launch_template")
    metadata = template["metadata_options"][0]
    assert metadata["http_tokens"] == '"required"'
    assert metadata["http_endpoint"] == '"enabled"'
    assert metadata["http_put_response_hop_limit"] == 1
    (device,) = template["block_device_mappings"]
    assert device["device_name"] == '"/dev/xvda"'  # AL2023's root device
    ebs = device["ebs"][0]
    assert ebs["encrypted"] is True and ebs["volume_type"] == '"gp3"' and ebs["volume_size"] == 8
    assert (
        template["iam_instance_profile"][0]["name"] == "${aws_iam_instance_profile.streamer.name}"
    )
    assert template["vpc_security_group_ids"] == ["${aws_security_group.streamer.id}"]
    assert template["monitoring"][0]["enabled"] is True
    assert template["ebs_optimized"] == '"true"'
    assert "network_interfaces" not in template  # the security group applies as given
    group = only("aws_security_group")
    assert "ingress" not in group and group["egress"]
    assert group["vpc_id"] == "${module.streamer_placement.vpc_id}"
    # The AMI is looked up (the current Amazon Linux 2023), never hard-coded.
    assert template["image_id"] == "${data.aws_ssm_parameter.al2023.insecure_value}"
    assert "/aws/service/ami-amazon-linux-latest/al2023-ami" in (TF_DIR / "ec2.tf").read_text()
    tagged = {t["resource_type"].strip('"'): t["tags"] for t in template["tag_specifications"]}
    assert tagged == {
        "instance": {"Name": "${local.streamer_group_name}"},
        "volume": {"Name": "${local.streamer_group_name}"},
    }


def plain(block: dict[str, Any]) -> dict[str, Any]:
    """A parsed block's arguments, without the parser's comments and markers."""
    return {k: v for k, v in block.items() if not k.startswith("__")}


def ec2_locals() -> dict[str, Any]:
    return {k: v for b in tf_files()["ec2.tf"]["locals"] for k, v in b.items()}


def test_a_new_boot_script_or_wheelhouse_is_a_new_template_version_the_group_refreshes_to() -> None:
    """The refresh starts when the group's launch template argument changes: the group
    names the template's latest version (not "$Latest", which never changes), and the
    template's user data is the boot script, which holds the wheelhouse's sha256."""
    template = only("aws_launch_template")
    assert template["user_data"] == "${base64encode(local.streamer_user_data)}"
    assert template["update_default_version"] is True
    call = ec2_locals()["streamer_user_data"]
    assert "wheelhouse_sha256 = filesha256(var.streamer_wheelhouse)" in call
    group = only("aws_autoscaling_group")
    (lt,) = group["launch_template"]
    assert plain(lt) == {
        "id": "${aws_launch_template.streamer.id}",
        "version": "${aws_launch_template.streamer.latest_version}",
    }
    assert "launch_configuration" not in group and "mixed_instances_policy" not in group


def test_the_group_runs_streamer_count_instances_and_replaces_them_without_a_gap() -> None:
    """Launch before terminate, one at a time: never below 100% of the desired count
    healthy, at most one instance above it (100 + ceil(100/N) percent), for the refresh
    and for every other replacement (the maintenance policy)."""
    group = only("aws_autoscaling_group")
    assert group["min_size"] == group["desired_capacity"] == "${var.streamer_count}"
    assert group["max_size"] == "${var.streamer_count * 2}"  # room for the surge
    assert group["vpc_zone_identifier"] == "${module.streamer_placement.subnet_ids}"
    assert group["name"] == "${local.streamer_group_name}"
    (refresh,) = group["instance_refresh"]
    assert refresh["strategy"] == '"Rolling"'
    (prefs,) = refresh["preferences"]
    assert prefs["min_healthy_percentage"] == 100
    assert prefs["max_healthy_percentage"] == "${local.streamer_max_healthy_percentage}"
    assert "auto_rollback" not in prefs  # a rollback would leave Terraform's state behind
    (policy,) = group["instance_maintenance_policy"]
    assert plain(policy) == {
        "min_healthy_percentage": 100,
        "max_healthy_percentage": "${local.streamer_max_healthy_percentage}",
    }
    surge = ec2_locals()["streamer_max_healthy_percentage"]
    assert surge == "${min(200, 100 + ceil(100 / var.streamer_count))}"
    for n, percent in ((1, 200), (2, 150), (3, 134), (4, 125), (50, 102), (200, 101)):
        assert min(200, 100 + -(-100 // n)) == percent
        # At least one above the desired count, whatever AWS's rounding; at most two.
        assert n + 1 <= n * percent / 100 <= n + 2, n
    (tag,) = [t for t in group["tag"] if t["key"] == '"Name"']
    assert tag["propagate_at_launch"] is True
    (count,) = [t for t in group["tag"] if t["key"] == '"StreamerCount"']
    assert count["value"] == "${tostring(var.streamer_count)}"
    variables = {
        k.strip('"'): v for b in tf_files()["variables.tf"]["variable"] for k, v in b.items()
    }
    streamers = variables["streamer_count"]
    assert streamers["default"] == 2 and streamers["type"] in ("number", "${number}")
    assert "var.streamer_count >= 1" in streamers["validation"][0]["condition"]


def test_a_new_streamer_is_in_service_only_once_it_streams() -> None:
    """The launch hook holds every new instance (the group's first ones too: an initial
    hook) until the streamer completes it, and abandons it when nothing comes; the boot
    script gives the service the group's and the hook's names."""
    group = only("aws_autoscaling_group")
    (hook,) = group["initial_lifecycle_hook"]
    assert hook["name"] == "${local.streamer_launch_hook}"
    assert hook["lifecycle_transition"] == '"autoscaling:EC2_INSTANCE_LAUNCHING"'
    assert hook["default_result"] == '"ABANDON"'
    assert 300 <= hook["heartbeat_timeout"] <= 1800
    assert "notification_target_arn" not in hook  # the instance itself completes it
    # An apply waits for the streamers to stream, longer than the heartbeat.
    wait = re.fullmatch(r'"(\d+)m"', group["wait_for_capacity_timeout"])
    assert wait and int(wait[1]) * 60 > hook["heartbeat_timeout"]
    assert not resources("aws_autoscaling_lifecycle_hook")
    call = ec2_locals()["streamer_user_data"]
    assert "asg_name = local.streamer_group_name" in call
    assert "launch_hook = local.streamer_launch_hook" in call
    script = render_user_data(USER_DATA_VALUES)
    assert "MEMPOOL_ASG_NAME=mempool-streamer\n" in script
    assert "MEMPOOL_LAUNCH_HOOK=mempool-streamer-streaming\n" in script
    assert ec2_locals()["streamer_group_name"] == '"${var.name_prefix}-streamer"'
    # The settings the service reads.
    from ingest.launch_hook import GROUP_VARIABLE, HOOK_VARIABLE

    assert (GROUP_VARIABLE, HOOK_VARIABLE) == ("MEMPOOL_ASG_NAME", "MEMPOOL_LAUNCH_HOOK")
    assert "${aws_iam_role_policy.streamer}" in group["depends_on"]


def test_the_single_instance_of_earlier_releases_is_forgotten_not_destroyed() -> None:
    """Destroyed in the same apply, it could stop before the group's first streamer
    streams: a gap. Forgotten, it streams on until the operator terminates it."""
    (removed,) = tf_files()["ec2.tf"]["removed"]
    assert removed["from"] == "${aws_instance.streamer}"
    assert removed["lifecycle"][0]["destroy"] is False


def policy_statements() -> list[dict[str, Any]]:
    statements = []
    for doc in tf_files().values():
        for block in doc.get("data", []):
            for kind, named in block.items():
                if kind.strip('"') != "aws_iam_policy_document":
                    continue
                for name, body in named.items():
                    for st in body.get("statement", []):
                        statements.append({"policy": name.strip('"'), **st})
    return statements


def test_iam_grants_no_wildcard_action_and_scoped_resources() -> None:
    for st in policy_statements():
        actions = st.get("actions", [])
        assert not any(
            a == "*" or a.endswith(":*") for a in actions if st.get("effect") != '"Deny"'
        ), st
        if st.get("resources") == ['"*"']:
            # Only where the service has no resource-level permissions, and said so.
            assert all(
                a.startswith(('"xray:', '"ssmmessages:'))
                or a == '"autoscaling:DescribeAutoScalingGroups"'
                for a in actions
            ), st
    streamer = [s for s in policy_statements() if s["policy"] == "streamer"]
    allowed = {a.strip('"') for s in streamer for a in s["actions"]}
    assert allowed == {
        "firehose:PutRecordBatch",
        "firehose:PutRecord",
        "s3:PutObject",
        "s3:GetObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
        "autoscaling:CompleteLifecycleAction",
    }
    oversize = next(s for s in streamer if "s3:PutObject" in str(s["actions"]))
    assert oversize["resources"] == ['"${aws_s3_bucket.landing.arn}/${local.prefixes.oversize}*"']


def test_the_streamer_role_has_session_manager_and_no_parameter_access() -> None:
    """AmazonSSMManagedInstanceCore grants ssm:GetParameter(s) on every parameter of the
    account (the Snowflake handshake's included); Session Manager needs the agent's
    registration and its channels only (AWS's own Session-Manager-only profile,
    https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSCloud9SSMInstanceProfile.html)."""
    text = "\n".join(p.read_text() for p in TF_DIR.glob("*.tf"))
    assert 'AmazonSSMManagedInstanceCore"' not in text and "policy/AmazonSSM" not in text
    attached = resources("aws_iam_role_policy_attachment")
    assert all("streamer" not in json.dumps(a["role"]) for a in attached.values())
    inline = resources("aws_iam_role_policy")
    on_streamer = {
        n: b["policy"] for n, b in inline.items() if b["role"] == "${aws_iam_role.streamer.id}"
    }
    assert on_streamer == {
        "streamer": "${data.aws_iam_policy_document.streamer.json}",
        "streamer_session_manager": "${data.aws_iam_policy_document.streamer_session_manager.json}",
    }
    docs = {"streamer", "streamer_session_manager"}
    actions = {
        a.strip('"') for s in policy_statements() if s["policy"] in docs for a in s["actions"]
    }
    assert not any(a.startswith(("ssm:GetParameter", "ssm:Describe", "ssm:*")) for a in actions)
    assert {a for a in actions if a.startswith(("ssm", "ec2messages"))} == {
        "ssm:UpdateInstanceInformation",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    }
    register = next(
        s for s in policy_statements() if '"ssm:UpdateInstanceInformation"' in s.get("actions", [])
    )
    assert register["resources"] == [
        '"arn:${local.partition}:ec2:${var.region}:${local.account_id}:instance/*"'
    ]


def test_the_bucket_is_private_encrypted_tls_only_versioned_and_expiring() -> None:
    block = only("aws_s3_bucket_public_access_block")
    assert all(
        block[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    assert only("aws_s3_bucket")["force_destroy"] == "${var.allow_destroy}"
    allow = next(
        b['"allow_destroy"']
        for b in tf_files()["variables.tf"]["variable"]
        if '"allow_destroy"' in b
    )
    assert allow["default"] is False
    deny = next(s for s in policy_statements() if s["policy"] == "landing_bucket")
    assert deny["effect"] == '"Deny"' and "aws:SecureTransport" in json.dumps(deny)
    assert only("aws_s3_bucket_versioning")["versioning_configuration"][0]["status"] == '"Enabled"'
    rules = {r["id"].strip('"'): r for r in only("aws_s3_bucket_lifecycle_configuration")["rule"]}
    raw = rules["expire-raw-landing"]
    assert raw["expiration"][0]["days"] == "${var.landing_retention_days}"
    assert "noncurrent_version_expiration" in raw
    assert "noncurrent_version_expiration" in rules["expire-old-state-versions"]


def test_delete_markers_and_old_versions_expire_bucket_wide() -> None:
    """The landing expiry of a versioned bucket leaves a delete marker per object; with
    no rule removing expired delete markers they are kept for ever (and every listing
    walks them). Old versions outside the landing and state prefixes (the streamer's
    artifacts/) expire too."""
    rules = only("aws_s3_bucket_lifecycle_configuration")["rule"]
    markers = [
        r
        for r in rules
        if any(e.get("expired_object_delete_marker") is True for e in r.get("expiration", []))
    ]
    assert len(markers) == 1, rules
    (rule,) = markers
    assert rule["status"] == '"Enabled"'
    assert rule["filter"] == [{"__is_block__": True}] or rule["filter"] == [{}]  # whole bucket
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"] == (
        "${var.noncurrent_version_days}"
    )
    # S3 refuses Days and ExpiredObjectDeleteMarker in one Expiration.
    assert "days" not in rule["expiration"][0]


def test_snowflake_roles_trust_only_snowflakes_principal_with_the_external_id() -> None:
    (trust,) = [s for s in policy_statements() if s["policy"] == "snowflake_trust"]
    assert "sts:ExternalId" in json.dumps(trust["condition"])
    assert "each.value.external_id" in json.dumps(trust["condition"])
    assert "each.value.trusted" in json.dumps(trust)
    roles = resources("aws_iam_role")
    assert roles["snowflake_storage"]["assume_role_policy"].endswith(
        'snowflake_trust["storage"].json}'
    )
    assert roles["snowflake_errors"]["assume_role_policy"].endswith(
        'snowflake_trust["errors"].json}'
    )
    read = [s for s in policy_statements() if s["policy"] == "snowflake_storage"]
    assert {a.strip('"') for s in read for a in s["actions"]} <= {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:GetBucketLocation",
    }


SNOWFLAKE_HANDSHAKE = {
    "storage_principal_arn",
    "storage_external_id",
    "errors_principal_arn",
    "errors_external_id",
    "snowpipe_queue_arn",
}


def test_every_apply_reads_snowflakes_values_so_ci_cannot_reset_them() -> None:
    """CI applies with TF_VARS_JSON alone. If the five values of the handshake were
    variables passed on the operator's second apply, every CI apply would run without
    them: both trust policies back to "nobody", the bucket notifications removed, and
    Snowpipe silently stopped. They live in SSM parameters that Terraform creates once
    with a placeholder, never writes again (ignore_changes) and reads on every plan."""
    variables = {name.strip('"') for b in tf_files()["variables.tf"]["variable"] for name in b}
    assert not {v for v in variables if v.startswith(("snowflake_", "snowpipe_"))}
    text = "\n".join(p.read_text() for p in TF_DIR.glob("*.tf"))
    assert not re.search(r"var\.(snowflake|snowpipe)_", text)

    params = only("aws_ssm_parameter")
    assert params["for_each"] == "${local.snowflake_parameters}"
    assert params["name"] == '"/${var.name_prefix}/snowflake/${each.key}"'
    assert params["type"] == '"String"'
    assert params["insecure_value"] == "${local.snowflake_unset}"
    assert params["lifecycle"][0]["ignore_changes"] == ["insecure_value"]
    local = {k: v for b in tf_files()["snowflake.tf"]["locals"] for k, v in b.items()}
    assert set(local["snowflake_parameters"]) == SNOWFLAKE_HANDSHAKE
    assert "aws_ssm_parameter.snowflake" in local["snowflake"]
    assert "insecure_value" in local["snowflake"]

    # What the trust policies and the notifications are made of: the parameters only.
    for name in ("snowflake_trust", "storage_trusted", "errors_trusted", "snowpipe_queue_arn"):
        assert "var." not in json.dumps(local[name]), name
        assert "local.snowflake" in json.dumps(local[name]), name
    notification = only("aws_s3_bucket_notification")
    assert notification["count"] == '${local.snowpipe_queue_arn == "" ? 0 : 1}'
    assert "var." not in json.dumps(notification["dynamic"])
    trust_docs = next(
        b['"aws_iam_policy_document"']['"snowflake_trust"']
        for b in tf_files()["snowflake.tf"]["data"]
        if '"aws_iam_policy_document"' in b
        and '"snowflake_trust"' in b['"aws_iam_policy_document"']
    )
    assert trust_docs["for_each"] == "${local.snowflake_trust}"
    # A mistyped value fails the plan rather than writing a trust nobody matches.
    roles = resources("aws_iam_role")
    for role in ("snowflake_storage", "snowflake_errors"):
        assert len(roles[role]["lifecycle"][0]["precondition"]) == 2
    assert notification["lifecycle"][0]["precondition"]
    outputs = {k.strip('"') for b in tf_files()["outputs.tf"]["output"] for k in b}
    assert "snowflake_parameters" in outputs

    # ...and the workflow's apply passes nothing but the repository's settings.
    workflow = (REPO / ".github" / "workflows" / "deploy-aws.yml").read_text()
    apply = next(
        line for line in workflow.splitlines() if "terraform -chdir=terraform apply" in line
    )
    assert "-var " not in apply and "-var=" not in apply


def test_task_failures_can_reach_someone() -> None:
    variables = {
        k.strip('"'): v for b in tf_files()["variables.tf"]["variable"] for k, v in b.items()
    }
    email = variables["alert_email"]
    assert email["type"] in ("string", "${string}") and email["default"] == '""'
    assert email["validation"]
    subs = resources("aws_sns_topic_subscription")
    assert set(subs) == {"task_errors_email", "task_errors"}
    sub = subs["task_errors_email"]
    assert sub["count"] == '${var.alert_email == "" ? 0 : 1}'
    assert sub["protocol"] == '"email"'
    assert sub["endpoint"] == "${var.alert_email}"
    assert sub["topic_arn"] == "${aws_sns_topic.task_errors.arn}"


def variable_block(name: str) -> str:
    """A variable's block as written in variables.tf (its validations with it)."""
    text = (TF_DIR / "variables.tf").read_text()
    start = text.index(f'variable "{name}" {{')
    end = text.index("\n}\n", start) + 3
    return text[start:end]


def test_alert_subscriptions_are_typed_validated_and_subscribe_only_to_the_topic(
    tmp_path: Path,
) -> None:
    """alert_subscriptions: a typed list of { protocol, endpoint }, empty by default,
    each one an aws_sns_topic_subscription on the task-error topic (which carries the
    task failures and the Snowflake alerts), keyed by protocol and endpoint. Its
    validations, run by terraform on the variable's own block, take email, https, sqs and
    lambda endpoints of the right shape and refuse plain http, sms, a malformed endpoint
    and a repeated one. The topic's policy is not widened for them (no
    aws_sns_topic_policy): an sqs or lambda subscriber grants the topic on its own side."""
    variables = {
        k.strip('"'): v for b in tf_files()["variables.tf"]["variable"] for k, v in b.items()
    }
    subscriptions = variables["alert_subscriptions"]
    assert subscriptions["default"] == []
    assert "protocol" in subscriptions["type"] and "endpoint" in subscriptions["type"]
    assert "confirm" in subscriptions["description"]
    sub = resources("aws_sns_topic_subscription")["task_errors"]
    assert "var.alert_subscriptions" in sub["for_each"]
    assert sub["topic_arn"] == "${aws_sns_topic.task_errors.arn}"
    assert sub["protocol"] == "${each.value.protocol}"
    assert sub["endpoint"] == "${each.value.endpoint}"
    assert not resources("aws_sns_topic_policy")

    terraform = terraform_bin("the validations")
    (tmp_path / "main.tf").write_text(variable_block("alert_subscriptions"))
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    env["TF_CLI_CONFIG_FILE"] = os.devnull

    def plan(value: list[dict[str, str]]) -> subprocess.CompletedProcess[str]:
        (tmp_path / "x.tfvars.json").write_text(json.dumps({"alert_subscriptions": value}))
        return subprocess.run(
            [
                terraform,
                f"-chdir={tmp_path}",
                "plan",
                "-input=false",
                "-no-color",
                "-var-file=x.tfvars.json",
            ],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=120,
        )

    init = subprocess.run(
        [terraform, f"-chdir={tmp_path}", "init", "-input=false", "-no-color"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    good = [
        {"protocol": "email", "endpoint": "ops@example.com"},
        {"protocol": "https", "endpoint": "https://hooks.example.com/mempool"},
        {"protocol": "sqs", "endpoint": "arn:aws:sqs:eu-west-1:123456789012:mempool-alerts"},
        {
            "protocol": "lambda",
            "endpoint": "arn:aws:lambda:eu-west-1:123456789012:function:page-oncall",
        },
    ]
    ok = plan(good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for bad in (
        [{"protocol": "http", "endpoint": "http://hooks.example.com/mempool"}],
        [{"protocol": "sms", "endpoint": "+15555550100"}],
        [{"protocol": "email", "endpoint": "not an address"}],
        [{"protocol": "https", "endpoint": "http://hooks.example.com/mempool"}],
        [{"protocol": "sqs", "endpoint": "mempool-alerts"}],
        [{"protocol": "lambda", "endpoint": "arn:aws:sqs:eu-west-1:123456789012:q"}],
        [good[0], good[0]],
    ):
        refused = plan(bad)
        assert refused.returncode != 0, bad
        assert "alert_subscriptions:" in " ".join(refused.stderr.split()), bad


def test_the_streamer_defaults_to_an_instance_dnf_survives_in_a_zone_that_offers_it() -> None:
    """t4g.nano's 512 MiB gets dnf OOM-killed on Amazon Linux 2023; and `sort(ids)[0]` of
    the default subnets may be in an Availability Zone without t4g."""
    variables = {
        k.strip('"'): v for b in tf_files()["variables.tf"]["variable"] for k, v in b.items()
    }
    instance_type = variables["streamer_instance_type"]
    assert instance_type["default"] == '"t4g.micro"'
    assert "$" in instance_type["description"]  # the cost is stated
    data = {
        (k.strip('"'), n.strip('"')): body
        for b in tf_files()["ec2.tf"]["data"]
        for k, named in b.items()
        for n, body in named.items()
    }
    offerings = data[("aws_ec2_instance_type_offerings", "streamer")]
    assert offerings["location_type"] == '"availability-zone"'
    assert offerings["filter"][0]["name"] == '"instance-type"'
    assert offerings["filter"][0]["values"] == ["${var.streamer_instance_type}"]
    filters = {
        f["name"].strip('"'): f["values"] for f in data[("aws_subnets", "default")]["filter"]
    }
    assert (
        filters["availability-zone"] == "${data.aws_ec2_instance_type_offerings.streamer.locations}"
    )
    assert filters["default-for-az"] == ['"true"']
    # Every candidate subnet is read, and the placement module checks them.
    subnet = data[("aws_subnet", "streamer")]
    assert "var.streamer_subnet_ids" in subnet["for_each"]
    assert "data.aws_subnets.default[0].ids" in subnet["for_each"]
    (placement,) = [m['"streamer_placement"'] for m in tf_files()["ec2.tf"]["module"]]
    assert placement["source"] == '"./modules/streamer_placement"'
    assert placement["offered_zones"] == (
        "${data.aws_ec2_instance_type_offerings.streamer.locations}"
    )
    assert placement["instance_count"] == "${var.streamer_count}"
    assert "data.aws_subnet.streamer" in placement["subnets"]
    conditions = json.dumps(only("aws_launch_template")["lifecycle"][0]["precondition"])
    assert 'local.streamer_arch == \\"arm64\\"' in conditions


def render_user_data(values: dict[str, str]) -> str:
    """templatefile() for this template: `${name}` substitution, `$${` escapes (no
    directives used)."""
    text = (TF_DIR / "templates" / "streamer-user-data.sh.tftpl").read_text()
    assert "%{" not in text
    return re.sub(r"\$\$\{|\$\{(\w+)\}", lambda m: values[m[1]] if m[1] else "${", text)


def template_variables() -> set[str]:
    text = (TF_DIR / "templates" / "streamer-user-data.sh.tftpl").read_text()
    return set(re.findall(r"(?<!\$)\$\{(\w+)\}", text))


USER_DATA_VALUES = {
    "region": "eu-west-1",
    "bucket": "acme-landing",
    "wheelhouse_key": "artifacts/streamer/wheelhouse.tar.gz",
    "wheelhouse_sha256": "ab" * 32,
    "ws_url": "wss://mempool.space/api/v1/ws",
    "stream_delivery": "mempool-stream",
    "conversions_stream": "mempool-conversions",
    "log_group": "/mempool/streamer",
    "stop_timeout_s": "60",
    "asg_name": "mempool-streamer",
    "launch_hook": "mempool-streamer-streaming",
}


def test_streamer_user_data_is_valid_bash_and_shellcheck_clean(tmp_path: Path) -> None:
    script = tmp_path / "user-data.sh"
    script.write_text(render_user_data(USER_DATA_VALUES))
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    check = subprocess.run(
        [str(BIN / "shellcheck"), "--severity=style", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout
    text = script.read_text()
    assert "Restart=always" in text and "TimeoutStopSec=60" in text
    assert "python3.11" in text and "/etc/mempool/mempool.env" in text
    assert "amazon-cloudwatch-agent" in text


def test_the_user_data_gets_exactly_the_values_terraform_passes() -> None:
    """templatefile() fails on a variable the call does not pass; an unused one is dead."""
    local = {k: v for b in tf_files()["ec2.tf"]["locals"] for k, v in b.items()}
    call = local["streamer_user_data"]
    assert "streamer-user-data.sh.tftpl" in call
    passed = set(re.findall(r"[{,]\s*(\w+)\s*=", call))
    assert passed == template_variables() == set(USER_DATA_VALUES)
    assert "wheelhouse_sha256 = filesha256(var.streamer_wheelhouse)" in call
    assert "wheelhouse_key = aws_s3_object.streamer_wheelhouse.key" in call


def user_data_commands() -> list[str]:
    """The rendered script's commands, continuation lines joined."""
    return render_user_data(USER_DATA_VALUES).replace("\\\n", " ").splitlines()


def test_the_streamer_installs_its_wheelhouse_offline_hash_checked_as_the_service_user() -> None:
    """No `pip install '<requirement>'` as root into the system Python: the wheelhouse
    Terraform uploaded, checked against the sha256 Terraform computed, installed with no
    index and every wheel's hash required, into a venv the service user owns."""
    lines = user_data_commands()
    pip = [line for line in lines if re.search(r"\bpip install\b", line)]
    assert len(pip) == 1, pip
    (install,) = pip
    assert install.startswith("runuser -u mempool -- ")
    assert "/opt/mempool/venv/bin/pip install" in install
    for flag in ("--no-index", "--find-links /opt/mempool/wheelhouse", "--require-hashes"):
        assert flag in install, flag
    assert "-r /opt/mempool/wheelhouse/requirements.txt" in install
    assert "runuser -u mempool -- python3.11 -m venv /opt/mempool/venv" in lines
    assert any(
        line.startswith("install -d -o mempool -g mempool") and "/opt/mempool/venv" in line
        for line in lines
    )
    assert "ExecStart=/opt/mempool/venv/bin/python -m ingest.stream_main" in lines
    assert "git" not in re.findall(r"dnf install -y (.*)", "\n".join(lines))[0].split()
    text = "\n".join(lines)
    assert f"WHEELHOUSE_URI='s3://acme-landing/{USER_DATA_VALUES['wheelhouse_key']}'" in text
    assert "sha256sum --check --strict" in text
    # The checksum is verified before anything is unpacked or installed.
    assert text.index("sha256sum --check") < text.index("tar -xzf") < text.index("pip install")


def test_a_failed_boot_step_is_reported_on_the_console_and_in_cloudwatch(tmp_path: Path) -> None:
    """With `set -e` a failed step (dnf, pip, ...) ends the script with no service and no
    log agent: the script must first say which step failed, on the console and as a line
    in the streamer's log group, then exit with the step's status. Run here: the script up
    to its first real step, then a failing step; `aws` and `curl` (IMDS) stubbed, the
    console redirected to a file."""
    script = render_user_data(USER_DATA_VALUES)
    prelude = script[: script.index("\ndnf install")]
    console = tmp_path / "console"
    calls = tmp_path / "aws-calls"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "aws").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (stubs / "curl").write_text("#!/bin/sh\necho i-0123456789abcdef0\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    test_script = tmp_path / "boot.sh"
    test_script.write_text(
        prelude.replace("/dev/console", str(console))
        + '\nSTEP="installing the streamer"\n'
        + "sh -c 'exit 7'\n"
        + f"echo unreachable > {tmp_path / 'after'}\n"
    )
    out = subprocess.run(
        ["bash", str(test_script)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}"},
        timeout=60,
    )
    assert out.returncode == 7
    assert not (tmp_path / "after").exists()
    assert console.exists(), "nothing reported on the console"
    reported = console.read_text()
    assert "FAILED (exit 7" in reported and "while installing the streamer" in reported
    aws = calls.read_text().splitlines() if calls.exists() else []
    stream = "--log-stream-name i-0123456789abcdef0/boot"
    assert any("logs create-log-stream" in c and stream in c for c in aws), aws
    put = next(c for c in aws if "logs put-log-events" in c)
    assert stream in put and "--log-group-name /mempool/streamer" in put
    assert "while installing the streamer" in put
    # Every step runs under the trap (errtrace: inside functions too), and success is
    # reported as the very last step.
    assert "set -Eeuo pipefail" in prelude and "trap 'failed $? $LINENO' ERR" in prelude
    assert script.rstrip().splitlines()[-1].startswith('report "streamer installed and started')


def test_the_wheelhouse_is_uploaded_by_terraform_and_only_the_instance_reads_it() -> None:
    from operations.streamer_package import WHEELHOUSE

    variables = {
        k.strip('"'): v for b in tf_files()["variables.tf"]["variable"] for k, v in b.items()
    }
    assert "streamer_package" not in variables  # a pip requirement the instance fetched
    default = variables["streamer_wheelhouse"]["default"].strip('"')
    assert (TF_DIR / default).resolve() == WHEELHOUSE
    obj = only("aws_s3_object")
    assert obj["source"] == "${var.streamer_wheelhouse}"
    assert obj["source_hash"] == "${filemd5(var.streamer_wheelhouse)}"
    assert obj["bucket"] == "${aws_s3_bucket.landing.id}"
    assert obj["key"] == "${local.streamer_wheelhouse_key}"
    local = {k: v for b in tf_files()["main.tf"]["locals"] for k, v in b.items()}
    key = local["streamer_wheelhouse_key"].strip('"')
    assert not key.startswith(local["landing_root"].strip('"'))  # no pipe, no Snowflake read
    reads = [
        s
        for s in policy_statements()
        if any(a in ('"s3:GetObject"', '"s3:GetObjectVersion"') for a in s.get("actions", []))
        and "streamer_wheelhouse" in json.dumps(s.get("resources"))
    ]
    assert [r["policy"] for r in reads] == ["streamer"]
    (read,) = reads
    assert read["actions"] == ['"s3:GetObject"']
    assert read["resources"] == [
        '"${aws_s3_bucket.landing.arn}/${aws_s3_object.streamer_wheelhouse.key}"'
    ]
    group = only("aws_autoscaling_group")
    assert "${aws_iam_role_policy.streamer}" in group["depends_on"]
    rules = only("aws_s3_bucket_lifecycle_configuration")["rule"]
    assert any(
        r["filter"] in ([{}], [{"__is_block__": True}]) and "noncurrent_version_expiration" in r
        for r in rules
    )
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^streamer-package:.*\n\t.*-m operations\.streamer_package", makefile, re.M)
    assert re.search(r"^\.PHONY:.*\bstreamer-package\b", makefile, re.M)
    workflow = (REPO / ".github" / "workflows" / "deploy-aws.yml").read_text()
    for job in workflow.split("\n  apply:\n"):
        assert "python -m operations.streamer_package" in job


def test_the_local_stack_follows_a_prefix_changed_in_terraform(
    moto_endpoint: str, tmp_path: Path
) -> None:
    tf = tmp_path / "terraform"
    shutil.copytree(TF_DIR, tf)
    main = tf / "main.tf"
    main.write_text(
        main.read_text().replace('"${local.landing_root}/stream/"', '"${local.landing_root}/ws/"')
    )
    variables = tf / "variables.tf"
    variables.write_text(variables.read_text().replace("default     = 128", "default     = 64", 1))
    name = f"tf-follow-{free_port()}"
    landing = aws_local.Landing.from_terraform(
        tf, bucket=name, stream_delivery=f"s-{name}", conversions_delivery=f"c-{name}", queue=name
    )
    aws_local.provision(moto_endpoint, landing)
    firehose = boto3.client("firehose")
    try:
        desc = firehose.describe_delivery_stream(DeliveryStreamName=f"s-{name}")
        dest = desc["DeliveryStreamDescription"]["Destinations"][0][
            "ExtendedS3DestinationDescription"
        ]
        assert dest["Prefix"] == "mempool-data/ws/"
        assert dest["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 60}
        config = boto3.client("s3").get_bucket_notification_configuration(Bucket=name)
        prefixes = {
            rule["Value"]
            for q in config["QueueConfigurations"]
            for rule in q["Filter"]["Key"]["FilterRules"]
        }
        assert "mempool-data/ws/" in prefixes and "mempool-data/stream/" not in prefixes
    finally:
        for stream in (f"s-{name}", f"c-{name}"):
            firehose.delete_delivery_stream(DeliveryStreamName=stream)


@pytest.mark.stack
def test_the_lambda_package_runs_its_handler_on_the_recorded_event(
    landing: aws_local.Landing, tmp_path: Path
) -> None:
    package = build_lambda(tmp_path / "poller.zip")
    with zipfile.ZipFile(package) as zf:
        names = zf.namelist()
    assert "ingest/lambda_handler.py" in names
    assert all(n.startswith("ingest/") for n in names)
    assert build_lambda(tmp_path / "again.zip").read_bytes() == package.read_bytes()

    with simulator_process("--seed", "6") as base:
        probe = (
            "import json, sys\n"
            f"sys.path.insert(0, {str(package)!r})\n"
            "import ingest.lambda_handler as h\n"
            f"assert h.__file__.startswith({str(package)!r}), h.__file__\n"
            f"event = json.loads(open({str(EVENT)!r}).read())\n"
            "out = h.handler(event, None)\n"
            "assert 'websockets' not in sys.modules\n"
            "print(json.dumps(out))\n"
        )
        env = {
            **os.environ,
            "MEMPOOL_BUCKET": landing.bucket,
            "MEMPOOL_API_BASE": f"{base}/api",
            "MEMPOOL_ENV_FILE": str(tmp_path / "none.env"),
        }
        out = subprocess.run(
            [sys.executable, "-c", probe],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["advanced"] is True and result["blocks_written"] > 0
    listed = boto3.client("s3").list_objects_v2(
        Bucket=landing.bucket, Prefix=contract.PREFIX_BLOCKS
    )
    assert listed.get("KeyCount", 0) >= 1


def test_github_pull_requests_only_plan_and_only_the_production_environment_applies() -> None:
    """The apply role trusts `environment:production` only: trusting
    `ref:refs/heads/main` too would let any job on main that names no environment (and so
    skips its required reviewers) assume it."""
    trust = next(s for s in policy_statements() if s["policy"] == "github_trust")
    assert "each.value.subject" in json.dumps(trust["condition"])
    local = {k: v for b in tf_files()["github.tf"]["locals"] for k, v in b.items()}
    assert "refs/heads" not in json.dumps(local)
    subjects = local["github_subjects"]
    assert subjects["pull_requests"] == '"repo:${var.github_repository}:pull_request"'
    assert subjects["production"] == '"repo:${var.github_repository}:environment:production"'
    roles = local["github_roles"]
    plan, rest = roles.split("apply = {")
    apply, streamer = rest.split("streamer = {")
    assert "local.github_subjects.pull_requests" in plan and "ReadOnlyAccess" in plan
    assert "subject = local.github_subjects.production" in apply
    assert "subject = local.github_subjects.streamer" in streamer
    assert len(re.findall(r'"repo:\$\{var\.github_repository\}:', json.dumps(local))) == 3
    variables = {k.strip('"') for b in tf_files()["variables.tf"]["variable"] for k in b}
    assert "github_branch" not in variables
    workflow = (REPO / ".github" / "workflows" / "deploy-aws.yml").read_text()
    plan_job, apply_job = workflow.split("\n  apply:\n")
    assert "AWS_PLAN_ROLE_ARN" in plan_job and "AWS_APPLY_ROLE_ARN" not in plan_job
    assert "environment: production" in apply_job and "AWS_APPLY_ROLE_ARN" in apply_job


def test_the_streamer_workflow_can_only_resize_the_streamers_group() -> None:
    """A stopped instance of an Auto Scaling group is unhealthy and gets replaced: the
    workflow stops the streamers by the group's capacity (0, then the StreamerCount tag
    back), and its role may change that group only."""
    statements = [s for s in policy_statements() if s["policy"] == "github_streamer"]
    by_action = {a.strip('"'): s for s in statements for a in s["actions"]}
    assert set(by_action) == {
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
    }
    resize = by_action["autoscaling:UpdateAutoScalingGroup"]
    assert resize["resources"] == [GROUP_ARN]
    assert by_action["autoscaling:DescribeAutoScalingGroups"]["resources"] == ['"*"']
    policy = resources("aws_iam_role_policy")["github_streamer"]
    assert policy["role"] == '${aws_iam_role.github["streamer"].id}'
    # No managed policy on it: the attachments cover the roles with one only.
    local = {k: v for b in tf_files()["github.tf"]["locals"] for k, v in b.items()}
    assert 'r.policy != ""' in local["github_managed_policies"]
    assert only("aws_iam_role_policy_attachment")["for_each"] == "${local.github_managed_policies}"
    outputs = {k.strip('"') for b in tf_files()["outputs.tf"]["output"] for k in b}
    assert {"github_streamer_role_arn", "streamer_group"} <= outputs
    assert "streamer_instance_id" not in outputs

    workflow = (REPO / ".github" / "workflows" / "streamer.yml").read_text()
    assert "AWS_APPLY_ROLE_ARN" not in workflow
    assert "role-to-assume: ${{ vars.AWS_STREAMER_ROLE_ARN }}" in workflow
    assert re.search(r"^\s+environment: streamer$", workflow, re.M)
    assert "ec2 stop-instances" not in workflow and "ec2 start-instances" not in workflow
    commands = re.findall(r"aws (autoscaling [a-z-]+)", workflow)
    assert set(commands) == {
        "autoscaling describe-auto-scaling-groups",
        "autoscaling update-auto-scaling-group",
    }
    assert "Key=='StreamerCount'" in workflow
    assert '--min-size "$WANT" --desired-capacity "$WANT"' in workflow
    assert "${{ vars.STREAMER_NAME || 'mempool-streamer' }}" in workflow
    assert local["github_subjects"]["streamer"] == (
        '"repo:${var.github_repository}:environment:streamer"'
    )


GROUP_ARN = (
    '"arn:${local.partition}:autoscaling:${var.region}:${local.account_id}:'
    'autoScalingGroup:*:autoScalingGroupName/${local.streamer_group_name}"'
)


def test_the_streamer_may_complete_its_own_groups_hook_only() -> None:
    """CompleteLifecycleAction requires an autoScalingGroup resource (Service
    Authorization Reference, Amazon EC2 Auto Scaling): arn:...:autoScalingGroup:
    <generated id>:autoScalingGroupName/<name>. The policy names the group by name, the
    id a wildcard; decided here by the project's IAM evaluator on the policy as the local
    stack renders it from these files."""
    from sandbox.iam_policy import ALLOW, Request, decide
    from sandbox.terraform_local import render_roles

    (st,) = [s for s in policy_statements() if s.get("sid") == '"CompleteItsLaunchHook"']
    assert st["policy"] == "streamer"
    assert st["actions"] == ['"autoscaling:CompleteLifecycleAction"']
    assert st["resources"] == [GROUP_ARN]
    landing = aws_local.Landing()
    role = render_roles(("streamer",), landing.terraform_variables())["streamer"]
    docs = list(role.policies.values())
    prefix = f"arn:aws:autoscaling:{aws_local.REGION}:{aws_local.ACCOUNT_ID}:autoScalingGroup"
    group_id = "0b9d5a3e-5c43-4f4a-9d0e-2f6c1a7b8e90"
    own = f"{prefix}:{group_id}:autoScalingGroupName/mempool-streamer"

    def allowed(action: str, resource: str) -> bool:
        return decide(docs, Request(action, resource, {})) == ALLOW

    assert allowed("autoscaling:CompleteLifecycleAction", own)
    for other in (
        f"{prefix}:{group_id}:autoScalingGroupName/mempool-streamer-2",
        f"{prefix}:{group_id}:autoScalingGroupName/other",
        own.replace(aws_local.ACCOUNT_ID, "210987654321"),
    ):
        assert not allowed("autoscaling:CompleteLifecycleAction", other), other
    for action in (
        "autoscaling:RecordLifecycleActionHeartbeat",
        "autoscaling:SetInstanceHealth",
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ):
        assert not allowed(action, own), action
    # Nothing else of Auto Scaling (or EC2) on the instance role.
    actions = {
        a.strip('"')
        for s in policy_statements()
        if s["policy"] in ("streamer", "streamer_session_manager")
        for a in s["actions"]
    }
    assert {a for a in actions if a.startswith(("autoscaling:", "ec2:"))} == {
        "autoscaling:CompleteLifecycleAction"
    }


PLACEMENT = TF_DIR / "modules" / "streamer_placement"


def place(
    tmp_path: Path, subnets: dict[str, tuple[str, str]], count: int, offered: list[str]
) -> tuple[int, str, dict[str, Any]]:
    """The placement module, run by terraform (it needs no provider) on these subnets
    (id -> (zone, vpc)): its exit status, its errors, its outputs."""
    terraform = terraform_bin("the placement module")
    root = tmp_path / f"root-{len(list(tmp_path.iterdir()))}"
    root.mkdir()
    inputs = {
        "subnets": {k: {"availability_zone": z, "vpc_id": v} for k, (z, v) in subnets.items()},
        "offered_zones": offered,
        "instance_count": count,
        "instance_type": "t4g.micro",
    }
    (root / "main.tf").write_text(
        f'module "placement" {{\n  source = "{PLACEMENT}"\n'
        + "".join(f"  {k} = {json.dumps(v)}\n" for k, v in inputs.items())
        + "}\n"
        + 'output "placement" {\n  value = module.placement\n}\n'
    )
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    env["TF_CLI_CONFIG_FILE"] = os.devnull

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [terraform, f"-chdir={root}", *args],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=120,
        )

    init = run("init", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    applied = run("apply", "-auto-approve", "-input=false", "-no-color")
    if applied.returncode != 0:
        return applied.returncode, " ".join((applied.stdout + applied.stderr).split()), {}
    out = run("output", "-json")
    return 0, "", json.loads(out.stdout)["placement"]["value"]


def test_the_streamers_spread_over_the_zones_offering_their_type(tmp_path: Path) -> None:
    offered = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    subnets = {
        "subnet-c": ("eu-west-1c", "vpc-1"),
        "subnet-a": ("eu-west-1a", "vpc-1"),
        "subnet-b": ("eu-west-1b", "vpc-1"),
    }
    status, errors, out = place(tmp_path, subnets, 2, offered)
    assert status == 0, errors
    # Every zone offered to the group, in a stable order: it balances 2 over 2 zones.
    assert out == {
        "subnet_ids": ["subnet-a", "subnet-b", "subnet-c"],
        "vpc_id": "vpc-1",
        "zones": offered,
    }
    # One streamer may sit in one zone; two may not.
    one = {"subnet-a": ("eu-west-1a", "vpc-1")}
    status, _, out = place(tmp_path, one, 1, offered)
    assert status == 0 and out["zones"] == ["eu-west-1a"]
    status, errors, _ = place(tmp_path, one, 2, offered)
    assert status != 0 and "need subnets in at least two Availability Zones" in errors
    two_in_one_zone = {"subnet-a": ("eu-west-1a", "vpc-1"), "subnet-x": ("eu-west-1a", "vpc-1")}
    status, errors, _ = place(tmp_path, two_in_one_zone, 3, offered)
    assert status != 0 and "set streamer_count = 1" in errors


def test_a_subnet_in_a_zone_without_the_type_or_another_vpc_is_refused(tmp_path: Path) -> None:
    offered = ["us-east-1a", "us-east-1b"]
    status, errors, _ = place(
        tmp_path,
        {"subnet-a": ("us-east-1a", "vpc-1"), "subnet-e": ("us-east-1e", "vpc-1")},
        2,
        offered,
    )
    assert status != 0 and "subnet-e (us-east-1e)" in errors and "does not offer" in errors
    status, errors, _ = place(
        tmp_path,
        {"subnet-a": ("us-east-1a", "vpc-1"), "subnet-b": ("us-east-1b", "vpc-2")},
        2,
        offered,
    )
    assert status != 0 and "more than one VPC" in errors
    status, errors, _ = place(tmp_path, {}, 1, offered)
    assert status != 0 and "No subnet for the streamers" in errors


def test_the_state_is_locked_by_a_lock_object_beside_it() -> None:
    """use_lockfile: S3 native state locking, generally available in Terraform 1.11
    (https://developer.hashicorp.com/terraform/language/v1.11.x/upgrade-guides). Without
    a lock, CI's apply and an operator's apply can write the state at once."""
    (terraform,) = tf_files()["versions.tf"]["terraform"]
    (backend,) = terraform["backend"]
    assert backend['"s3"'].get("use_lockfile") is True
    floor = re.match(r'">=\s*(\d+)\.(\d+)', terraform["required_version"])
    assert floor and (int(floor[1]), int(floor[2])) >= (1, 11)


def test_the_provider_floor_is_where_thumbprint_list_became_optional() -> None:
    """The AWS provider made aws_iam_openid_connect_provider's thumbprint_list optional in
    5.81.0 (hashicorp/terraform-provider-aws#37255, released 2024-12-12); github.tf sets
    none, which an older provider refuses ("The argument thumbprint_list is required")."""
    (terraform,) = tf_files()["versions.tf"]["terraform"]
    version = terraform["required_providers"][0]["aws"]["version"].strip('"')
    minimum = re.search(r"(?:>=|~>)\s*(\d+)\.(\d+)", version)
    assert minimum and (int(minimum[1]), int(minimum[2])) >= (5, 81), version
    assert "thumbprint_list" not in only("aws_iam_openid_connect_provider")


def test_firehose_streams_wait_for_their_role_policy() -> None:
    """Firehose checks the role's access when the stream is created; the inline policy is
    a separate resource Terraform may otherwise create afterwards."""
    stream = only("aws_kinesis_firehose_delivery_stream")
    assert "${aws_iam_role_policy.firehose}" in stream["depends_on"]
