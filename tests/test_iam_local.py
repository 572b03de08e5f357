"""AWS permissions, enforced locally: every component runs as the role Terraform gives it
(the poller as the Lambda's role, the streamer as the instance profile's, each Firehose
stream delivering as its delivery role, the local Snowflake reading as the storage
integration's role), with exactly the policies rendered from terraform/, against moto
with IAM switched on (sandbox/moto_iam.py).

Every statement of every role policy in terraform/ is either exercised here (with the
full policies the component works and IAM refuses nothing; without that one statement
IAM refuses one of its actions, to that role) or listed in NOT_EXERCISED with the reason
no local path makes its calls. A statement in neither fails the first test, so a new one
cannot slip by.

Length: one test per role-policy statement, and the NOT_EXERCISED list they answer to.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ingest import contract
from ingest.firehose_sink import FirehoseSink
from ingest.poll_state import StateAccessDenied, StateStore
from ingest.poller import Poller, PollOptions
from ingest.spool import Spool
from sandbox import aws_local
from sandbox.iam_policy import allowed_actions
from sandbox.paths import Workspace
from sandbox.simulator.model import Model
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.terraform_local import TF_DIR, Evaluator, render_roles, role_policies
from sandbox.warehouse import LocalWarehouse
from tests.conftest import landing_zone, new_runtime
from tests.fakes import ModelApi, StubFirehose

pytestmark = pytest.mark.stack

GET_OBJECT_PAGE = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html"
FIREHOSE_S3_PAGE = (
    "https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3"
)

# (aws_iam_role_policy, statement sid) -> the local exercise that makes its calls.
EXERCISED = {
    ("poller", "WriteRestLandingPrefixes"): "poller",
    ("poller", "KeepStateWithConditionalWrites"): "poller",
    ("poller", "SeeThatTheStateIsMissing"): "poller",
    ("streamer", "PutToItsTwoStreams"): "streamer",
    ("streamer", "StoreOversizeRecords"): "streamer",
    ("streamer", "RescueSpooledRecordsAtStop"): "streamer stop",
    ("streamer", "ReadItsWheelhouse"): "streamer boot",
    ("streamer", "Logs"): "streamer boot",
    ("firehose", "WriteItsPrefixes"): "firehose delivery",
    ("snowflake_storage", "ReadLanding"): "snowflake pipe",
}

# (aws_iam_role_policy, statement sid) -> (its actions, why no local path makes them).
# The actions are pinned: one added to a statement nothing exercises is noticed too.
NOT_EXERCISED = {
    ("poller", "Logs"): (
        ("logs:CreateLogStream", "logs:PutLogEvents"),
        "Lambda's runtime writes the function's logs with the role; the local poller logs "
        "to .mempool/logs/poller.log",
    ),
    ("poller", "ReportFailures"): (
        ("sqs:SendMessage",),
        "Lambda sends a failed asynchronous invocation to the dead-letter queue with the "
        "role; nothing invokes the poller asynchronously locally",
    ),
    ("poller", "Tracing"): (
        ("xray:PutTraceSegments", "xray:PutTelemetryRecords"),
        "Lambda's active tracing sends X-Ray segments with the role; no X-Ray locally",
    ),
    ("streamer_session_manager", "RegisterWithSystemsManager"): (
        ("ssm:UpdateInstanceInformation",),
        "the SSM agent, which runs only on the instance",
    ),
    ("streamer_session_manager", "SessionManagerChannels"): (
        (
            "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel",
        ),
        "Session Manager sessions, opened only on the instance",
    ),
    ("firehose", "FindTheBucket"): (
        ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"),
        "Firehose's own bucket calls: moto's Firehose writes a batch with one PutObject; "
        "checked against Firehose's documented list instead "
        "(test_the_delivery_role_grants_what_firehose_documents)",
    ),
    ("firehose", "LogDeliveryErrors"): (
        ("logs:PutLogEvents",),
        "Firehose writes delivery errors to CloudWatch Logs; moto's Firehose writes none "
        "(the local stack records a refused delivery instead)",
    ),
    ("snowflake_storage", "ListLanding"): (
        ("s3:ListBucket", "s3:GetBucketLocation"),
        "Snowflake lists the stage for LIST, COPY and ALTER PIPE ... REFRESH; the local "
        "pipes read each object the S3 notification names with one GetObject",
    ),
    ("snowflake_errors", "PublishTaskErrors"): (
        ("sns:Publish",),
        "Snowflake publishes failed task runs to SNS; the local runtime records them in "
        "OPS.TASK_RUNS and publishes nothing",
    ),
    ("streamer", "CompleteItsLaunchHook"): (
        ("autoscaling:CompleteLifecycleAction",),
        "no Auto Scaling group locally (the local streamer runs without MEMPOOL_ASG_NAME), "
        "and moto 5.2 has no CompleteLifecycleAction; the statement's scope is checked "
        "against group ARNs by the project's IAM evaluator "
        "(tests/test_terraform.py, test_the_streamer_may_complete_its_own_groups_hook_only)",
    ),
    ("github_streamer", "ResizeTheStreamerGroupOnly"): (
        ("autoscaling:UpdateAutoScalingGroup",),
        "a GitHub Actions role (streamer.yml); nothing local runs as it",
    ),
    ("github_streamer", "WaitForItsInstances"): (
        ("autoscaling:DescribeAutoScalingGroups",),
        "a GitHub Actions role (streamer.yml); nothing local runs as it",
    ),
}

# aws_iam_role_policy -> the component (sandbox/aws_local.py ROLES) whose role has it.
COMPONENT = {
    "poller": "poller",
    "streamer": "streamer",
    "firehose": "firehose",
    "snowflake_storage": "snowflake",
}


def statements() -> dict[tuple[str, str], tuple[str, ...]]:
    return {
        (policy.resource, sid): actions
        for policy in role_policies(TF_DIR)
        for sid, actions in policy.statements
    }


def test_every_role_policy_statement_is_exercised_or_explained() -> None:
    found = statements()
    unnamed = [key for key in found if not key[1]]
    assert not unnamed, f"give these statements a sid, so they can be listed: {unnamed}"
    listed = set(EXERCISED) | set(NOT_EXERCISED)
    new = sorted(
        f"{p}/{sid} ({', '.join(a)})" for (p, sid), a in found.items() if (p, sid) not in listed
    )
    assert not new, f"exercise these locally or list them in NOT_EXERCISED: {new}"
    gone = sorted(
        f"{p}/{sid} ({', '.join(NOT_EXERCISED[(p, sid)][0])})"
        if (p, sid) in NOT_EXERCISED
        else f"{p}/{sid} (test_each_component_needs_nothing... names the refused call)"
        for p, sid in listed - set(found)
    )
    assert not gone, f"these statements are no longer in terraform/ (their calls now fail): {gone}"
    assert not set(EXERCISED) & set(NOT_EXERCISED)
    changed = {
        f"{p}/{sid}": f"{', '.join(actions)} -> {', '.join(found[(p, sid)])}"
        for (p, sid), (actions, _) in NOT_EXERCISED.items()
        if sorted(actions) != sorted(found[(p, sid)])
    }
    assert not changed, f"the actions of statements nothing exercises changed: {changed}"
    # Managed policies are attached only to the GitHub Actions roles (nothing local).
    ev = Evaluator(TF_DIR)
    attached = [b for (k, _), b in ev.resources.items() if k == "aws_iam_role_policy_attachment"]
    assert all("aws_iam_role.github[" in b["role"] for b in attached), attached


# -- the stack under test ----------------------------------------------------------------


@dataclass
class IamStack:
    endpoint: str
    landing: aws_local.Landing
    runtime: LocalSnowflake
    denials: Path
    tmp: Path

    @property
    def admin(self) -> dict[str, Any]:
        return aws_local.clients(self.endpoint)

    def as_role(self, component: str) -> boto3.Session:
        return aws_local.role_session(self.endpoint, self.landing.role_arn(component), component)

    def terraform(self, kind: str, name: str, attribute: str) -> str:
        """An argument of a Terraform resource under this landing's names."""
        ev = Evaluator(self.landing.tf_dir, variables=self.landing.terraform_variables())
        return str(ev.value(ev.resources[(kind, name)][attribute], {}))

    def refused_since(self, mark: int) -> list[dict[str, Any]]:
        """What IAM refused to this landing's roles since `mark` (a count of lines)."""
        names = {role.name for role in self.landing.roles().values()}
        return [
            d
            for d in aws_local.read_denials(self.denials)[mark:]
            if d["principal"].split("/")[1:2] and d["principal"].split("/")[1] in names
        ]

    def mark(self) -> int:
        return len(aws_local.read_denials(self.denials))

    def set_policy(self, component: str, drop: str | None = None) -> None:
        """The component's role with Terraform's policies, less the statement `drop`."""
        role = self.landing.roles()[component]
        iam = self.admin["iam"]
        for name, document in role.policies.items():
            doc = copy.deepcopy(document)
            doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != drop]
            if doc["Statement"]:
                iam.put_role_policy(
                    RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(doc)
                )
            else:
                iam.delete_role_policy(RoleName=role.name, PolicyName=name)


@pytest.fixture(scope="module")
def iam_stack(
    moto_endpoint: str,
    session_ws: Workspace,
    fakesnow_server: LocalWarehouse,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[IamStack]:
    with landing_zone(moto_endpoint, "iam") as land:
        runtime = new_runtime(land, fakesnow_server)
        runtime.deploy()
        try:
            yield IamStack(
                moto_endpoint,
                land,
                runtime,
                aws_local.denials_file(session_ws),
                tmp_path_factory.mktemp("iam"),
            )
        finally:
            runtime.close()


# -- the exercises: each makes the calls its component makes, as its role; True when it
# did what it is for ------------------------------------------------------------------


def run_poller(st: IamStack) -> bool:
    """One poller run from no state (the first run): reads the missing state, writes
    blocks, prices and stats, saves the state with a conditional write."""
    key = st.landing.terraform.poller_state_key
    st.admin["s3"].delete_object(Bucket=st.landing.bucket, Key=key)
    model = Model(seed=4, start_time=1_800_000_000, history_blocks=3)
    s3 = st.as_role("poller").client("s3", endpoint_url=st.endpoint)
    poller = Poller(ModelApi(model), s3, st.landing.bucket, key, PollOptions(lookback_blocks=3))
    try:
        result = poller.run()
    except (ClientError, StateAccessDenied):
        return False
    return bool(result.advanced and result.blocks_written == 3)


def run_streamer(st: IamStack) -> bool:
    """The streamer's sink: a record on each route to Firehose, and one above Firehose's
    record limit stored whole under oversize/."""
    session = st.as_role("streamer")
    sink = FirehoseSink(
        firehose=session.client("firehose", endpoint_url=st.endpoint),
        s3=session.client("s3", endpoint_url=st.endpoint),
        bucket=st.landing.bucket,
        deliveries=st.landing.routes,
        spool=Spool(st.tmp / f"spool-{time.monotonic_ns()}"),
        max_attempts=1,
        sleep=lambda _s: None,
    )
    small = record("mempoolInfo", 10)
    try:
        sink.add("stream", small)
        sink.add("conversions", record("conversions", 10))
        sink.add("stream", record("projected-block-transactions", contract.MAX_RECORD_BYTES))
        sink.flush()
    except ClientError:
        return False
    return sink.counters.oversize == 1 and sink.counters.records == 3 and sink.buffered() == 0


def run_streamer_stop(st: IamStack) -> bool:
    """The streamer's stop while Firehose refuses everything: what it spooled is written to
    S3 under each stream's landing prefix (FirehoseSink.rescue)."""
    sink = FirehoseSink(
        firehose=StubFirehose(fail_calls=1_000),
        s3=st.as_role("streamer").client("s3", endpoint_url=st.endpoint),
        bucket=st.landing.bucket,
        deliveries=st.landing.routes,
        spool=Spool(st.tmp / f"spool-{time.monotonic_ns()}"),
        landing={"stream": contract.PREFIX_STREAM, "conversions": contract.PREFIX_CONVERSIONS},
        max_attempts=1,
        sleep=lambda _s: None,
    )
    sink.add("stream", record("mempoolInfo", 10))
    sink.add("conversions", record("conversions", 10))
    sink.flush()
    return sink.rescue() == 2


def run_streamer_boot(st: IamStack) -> bool:
    """What the instance's boot script does with its role: `aws s3 cp` of the wheelhouse
    Terraform uploaded (HeadObject, then GetObject), and its report to the streamer's log
    group (`aws logs create-log-stream`, `put-log-events`)."""
    key = st.terraform("aws_s3_object", "streamer_wheelhouse", "key")
    group = st.terraform("aws_cloudwatch_log_group", "streamer", "name")
    st.admin["s3"].put_object(Bucket=st.landing.bucket, Key=key, Body=b"wheelhouse")
    logs = st.admin["logs"]
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    session = st.as_role("streamer")
    s3 = session.client("s3", endpoint_url=st.endpoint)
    role_logs = session.client("logs", endpoint_url=st.endpoint)
    stream = f"i-{time.monotonic_ns()}/boot"
    try:
        s3.head_object(Bucket=st.landing.bucket, Key=key)
        body = s3.get_object(Bucket=st.landing.bucket, Key=key)["Body"].read()
        role_logs.create_log_stream(logGroupName=group, logStreamName=stream)
        role_logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": "boot: ok"}],
        )
    except ClientError:
        return False
    return body == b"wheelhouse"


def run_firehose_delivery(st: IamStack) -> bool:
    """Records put to each stream (as the streamer) are written to S3 by Firehose, as the
    stream's delivery role."""
    s3 = st.admin["s3"]

    def landed() -> int:
        return sum(
            s3.list_objects_v2(Bucket=st.landing.bucket, Prefix=prefix).get("KeyCount", 0)
            for prefix in st.landing.delivery_prefixes.values()
        )

    before = landed()
    firehose = st.as_role("streamer").client("firehose", endpoint_url=st.endpoint)
    for name in st.landing.routes.values():
        firehose.put_record_batch(
            DeliveryStreamName=name, Records=[{"Data": record("fees", 5).to_line()}]
        )
    return landed() == before + 2


def run_snowflake_pipe(st: IamStack) -> bool:
    """A pipe loading one object the S3 notification names, as the storage role."""
    key = f"{contract.PREFIX_STATS}iam/{time.monotonic_ns()}.ndjson"
    body = record(contract.TOPIC_FEES, 5).to_line()
    st.admin["s3"].put_object(Bucket=st.landing.bucket, Key=key, Body=body)
    try:
        return st.runtime.load_object(key) == 1
    except ClientError:
        return False


EXERCISES: dict[str, Callable[[IamStack], bool]] = {
    "poller": run_poller,
    "streamer": run_streamer,
    "streamer stop": run_streamer_stop,
    "streamer boot": run_streamer_boot,
    "firehose delivery": run_firehose_delivery,
    "snowflake pipe": run_snowflake_pipe,
}


def record(topic: str, size: int) -> contract.Record:
    return contract.Record(
        source="ws",
        topic=topic,
        origin_id="iam",
        frame_seq=time.monotonic_ns() % 1_000_000,
        received_at="2026-01-01T00:00:00.000Z",
        payload={"x": "y" * size},
    )


def describe(denials: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{d['principal']} was refused {d['action']} on {d['resource']} {d['detail']}".strip()
        for d in denials
    )


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_each_component_needs_nothing_terraform_does_not_grant(
    iam_stack: IamStack, exercise: str
) -> None:
    mark = iam_stack.mark()
    worked = EXERCISES[exercise](iam_stack)
    refused = iam_stack.refused_since(mark)
    assert not refused, f"terraform/ does not grant what the {exercise} does: {describe(refused)}"
    assert worked, f"the {exercise} did not do its work, yet IAM refused nothing"


@pytest.mark.parametrize(
    ("policy", "sid"),
    sorted(statements()),
    ids=[f"{p}/{s}" for p, s in sorted(statements())],
)
def test_without_one_statement_its_call_is_refused(
    iam_stack: IamStack, policy: str, sid: str
) -> None:
    if (policy, sid) in NOT_EXERCISED:
        pytest.skip(f"not exercised locally: {NOT_EXERCISED[(policy, sid)][1]}")
    actions = statements()[(policy, sid)]
    component = COMPONENT[policy]
    iam_stack.set_policy(component, drop=sid)
    try:
        mark = iam_stack.mark()
        EXERCISES[EXERCISED[(policy, sid)]](iam_stack)
        refused = iam_stack.refused_since(mark)
    finally:
        iam_stack.set_policy(component)
    role = iam_stack.landing.roles()[component].name
    ours = [d for d in refused if d["principal"].split("/")[1] == role]
    assert any(d["action"] in actions for d in ours), (
        f"without {policy}/{sid} ({', '.join(actions)}) IAM refused nothing of it to "
        f"{role}; refused: {describe(refused) or 'nothing'}"
    )


def test_a_missing_key_is_403_not_404_without_list_bucket(iam_stack: IamStack) -> None:
    """GetObject of a key that does not exist: "If you don't have the s3:ListBucket
    permission, Amazon S3 returns an HTTP status code 403 ("access denied") error"
    (GET_OBJECT_PAGE, Permissions). moto answers 404 either way; the local stack answers
    as S3 does, so the poller's first run meets the 403 it would meet in AWS when its role
    may not list its state key. With Terraform's policy it may, and the missing state is a
    404: "no state yet"."""
    land, st = iam_stack.landing, iam_stack
    key = land.terraform.poller_state_key
    st.admin["s3"].delete_object(Bucket=land.bucket, Key=key)
    store = StateStore(
        st.as_role("poller").client("s3", endpoint_url=st.endpoint), land.bucket, key
    )
    assert store.load() == (None, None)
    st.set_policy("poller", drop="SeeThatTheStateIsMissing")
    try:
        with pytest.raises(StateAccessDenied, match="s3:ListBucket") as denied:
            store.load()
    finally:
        st.set_policy("poller")
    cause = denied.value.__cause__
    assert isinstance(cause, ClientError)
    assert cause.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "s3:ListBucket" in str(cause) and GET_OBJECT_PAGE in str(cause)
    # Only the missing key's answer changes: an existing one is read as before.
    st.admin["s3"].put_object(Bucket=land.bucket, Key=key, Body=b"{}")
    s3 = st.as_role("poller").client("s3", endpoint_url=st.endpoint)
    assert s3.get_object(Bucket=land.bucket, Key=key)["Body"].read() == b"{}"


def test_the_poller_s_listing_is_limited_to_its_state_key(iam_stack: IamStack) -> None:
    """The condition on s3:prefix is evaluated (moto's own evaluator ignores it)."""
    land = iam_stack.landing
    s3 = iam_stack.as_role("poller").client("s3", endpoint_url=iam_stack.endpoint)
    s3.list_objects_v2(Bucket=land.bucket, Prefix=land.terraform.poller_state_key)
    for prefix in ({"Prefix": "mempool-data/"}, {}):
        with pytest.raises(ClientError, match="s3:ListBucket"):
            s3.list_objects_v2(Bucket=land.bucket, **prefix)


def test_the_delivery_role_grants_what_firehose_documents() -> None:
    """moto's Firehose writes a batch with one PutObject, so only that call is exercised
    (run_firehose_delivery). Firehose's own list for an S3 destination ("Grant Firehose
    access to an Amazon S3 destination", FIREHOSE_S3_PAGE) is s3:AbortMultipartUpload,
    s3:GetBucketLocation, s3:GetObject, s3:ListBucket, s3:ListBucketMultipartUploads and
    s3:PutObject; with CloudWatch logging on, logs:PutLogEvents on its log streams. The
    delivery role must allow each, on the bucket or on objects under each delivery prefix,
    and on each stream's error log stream."""
    land = aws_local.Landing()
    (doc,) = render_roles(("firehose",), land.terraform_variables())["firehose"].policies.values()
    bucket = f"arn:aws:s3:::{land.bucket}"
    for _, prefix in land.terraform.deliveries.values():
        objects = allowed_actions(
            [doc],
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            f"{bucket}/{prefix}2026/01/01/00/object",
        )
        assert all(objects.values()), (prefix, objects)
    on_bucket = allowed_actions(
        [doc], ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], bucket
    )
    assert all(on_bucket.values()), on_bucket
    for name, _ in land.terraform.deliveries.values():
        logs = f"arn:aws:logs:{aws_local.REGION}:{aws_local.ACCOUNT_ID}"
        group = f"{logs}:log-group:/aws/kinesisfirehose/{name}"
        logged = allowed_actions(
            [doc], ["logs:PutLogEvents"], f"{group}:log-stream:DestinationDelivery"
        )
        assert all(logged.values()), (name, logged)


def test_iam_is_enforced_from_the_first_request(moto_endpoint: str) -> None:
    """moto's switch (INITIAL_NO_AUTH_ACTION_COUNT=0): unknown credentials are refused."""
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=aws_local.REGION,
        aws_access_key_id="AKIAUNKNOWN000000000",
        aws_secret_access_key="nothing",
    )
    with pytest.raises(ClientError, match="InvalidAccessKeyId"):
        s3.list_buckets()
    assert os.environ["AWS_ACCESS_KEY_ID"] == aws_local.LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"]


def test_a_refused_call_fails_the_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's summary lists what IAM refused, and then the demo exits 1 (run_demo)."""
    from sandbox.demo import report_denials
    from sandbox.stack import DemoOptions, Stack

    stack = Stack(ws=Workspace(tmp_path).ensure(), opts=DemoOptions())
    denials = aws_local.denials_file(stack.ws)
    denials.write_text("")
    assert report_denials(stack) is False
    refused = {
        "principal": "arn:aws:sts::123456789012:assumed-role/mempool-poller/poller",
        "action": "s3:PutObject",
        "resource": "arn:aws:s3:::mempool-landing-123456789012/mempool-data/blocks/x",
        "detail": "",
    }
    denials.write_text(json.dumps(refused) + "\n")
    assert report_denials(stack) is True
    out = capsys.readouterr().out
    assert "IAM refused 1 call(s)" in out
    assert "mempool-poller" in out and "s3:PutObject on arn:aws:s3:::mempool-landing" in out
