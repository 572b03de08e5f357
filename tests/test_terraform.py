"""The AWS side in Terraform, checked offline: formatting (terraform fmt), security
(checkov, no downloads), the settings the platform depends on (parsed HCL), the
streamer's boot script (bash -n, shellcheck), the Lambda package (built and invoked),
and the local stack provisioned from these very files."""

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
from sandbox import aws_local
from sandbox.lambda_package import HANDLER, build_lambda
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


def test_terraform_fmt() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip(
            "terraform is not installed: `terraform fmt -check` not run (install it to run)"
        )
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


def test_the_poller_lambda_is_bounded_single_and_reports_failures() -> None:
    fn = only("aws_lambda_function")
    assert fn["timeout"] == 10
    assert fn["reserved_concurrent_executions"] == 1
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


def test_the_streamer_instance_is_hardened() -> None:
    instance = only("aws_instance")
    assert instance["metadata_options"][0]["http_tokens"] == '"required"'
    assert instance["root_block_device"][0]["encrypted"] is True
    assert instance["user_data_replace_on_change"] is True
    group = only("aws_security_group")
    assert "ingress" not in group and group["egress"]
    # The AMI is looked up (the current Amazon Linux 2023), never hard-coded.
    assert instance["ami"] == "${data.aws_ssm_parameter.al2023.value}"
    assert "/aws/service/ami-amazon-linux-latest/al2023-ami" in (TF_DIR / "ec2.tf").read_text()


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
            assert all(a.startswith('"xray:') for a in actions), st
    streamer = [s for s in policy_statements() if s["policy"] == "streamer"]
    allowed = {a.strip('"') for s in streamer for a in s["actions"]}
    assert allowed == {
        "firehose:PutRecordBatch",
        "firehose:PutRecord",
        "s3:PutObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
    }
    oversize = next(s for s in streamer if "s3:PutObject" in str(s["actions"]))
    assert oversize["resources"] == ['"${aws_s3_bucket.landing.arn}/${local.prefixes.oversize}*"']


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


def test_snowflake_roles_trust_only_snowflakes_principal_with_the_external_id() -> None:
    (trust,) = [s for s in policy_statements() if s["policy"] == "snowflake_trust"]
    assert "sts:ExternalId" in json.dumps(trust["condition"])
    assert "each.value.external_id" in json.dumps(trust["condition"])
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


def render_user_data(values: dict[str, str]) -> str:
    """templatefile() for this template: `${name}` substitution (no directives used)."""
    text = (TF_DIR / "templates" / "streamer-user-data.sh.tftpl").read_text()
    assert "%{" not in text
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], text)


def test_streamer_user_data_is_valid_bash_and_shellcheck_clean(tmp_path: Path) -> None:
    script = tmp_path / "user-data.sh"
    script.write_text(
        render_user_data(
            {
                "package": "mempool-platform==0.1.0",
                "region": "eu-west-1",
                "bucket": "acme-landing",
                "ws_url": "wss://mempool.space/api/v1/ws",
                "stream_delivery": "mempool-stream",
                "conversions_stream": "mempool-conversions",
                "log_group": "/mempool/streamer",
                "stop_timeout_s": "60",
            }
        )
    )
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


def test_github_pull_requests_only_plan_and_only_main_applies() -> None:
    trust = next(s for s in policy_statements() if s["policy"] == "github_trust")
    assert "each.value.subjects" in json.dumps(trust["condition"])
    roles = next(
        b["github_roles"] for b in tf_files()["github.tf"]["locals"] if "github_roles" in b
    )
    plan, apply = roles.split("apply = {")
    assert ":pull_request" in plan and "refs/heads" not in plan and "ReadOnlyAccess" in plan
    assert ":pull_request" not in apply and "refs/heads/${var.github_branch}" in apply
    workflow = (REPO / ".github" / "workflows" / "deploy-aws.yml").read_text()
    plan_job, apply_job = workflow.split("\n  apply:\n")
    assert "AWS_PLAN_ROLE_ARN" in plan_job and "AWS_APPLY_ROLE_ARN" not in plan_job
    assert "environment: production" in apply_job and "AWS_APPLY_ROLE_ARN" in apply_job
