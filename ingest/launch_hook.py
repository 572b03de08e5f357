"""Tell Auto Scaling that this streamer is streaming.

The streamers run in an Auto Scaling group whose launch lifecycle hook holds every new
instance in Pending:Wait (terraform/ec2.tf): an instance refresh terminates an old
streamer only once its replacement is InService, and the replacement becomes InService
only when it completes the hook with CONTINUE. The signal is the first batch Firehose
accepts from this process: the instance booted, installed the wheelhouse, connected to
mempool.space and delivered. A streamer that never gets there is abandoned when the
hook's heartbeat runs out (its default result, ABANDON) and the old one keeps streaming.

Configuration, not a question of where it runs: with MEMPOOL_ASG_NAME and
MEMPOOL_LAUNCH_HOOK set (the boot script writes both), the action is completed once;
with neither, nothing here runs (a laptop, the local stack, a lone instance).

Completing is best effort: it never holds a flush and never stops the streamer. A
failure is logged (error code and message, no credentials) and retried a bounded number
of times; an answer that no action is pending (the service restarted after the instance
went InService, or the heartbeat already ran out) ends it at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ingest.config import DEFAULT_ENV_FILE, IMDS_BASE, ConfigError, read_env_file

log = logging.getLogger("mempool.launch_hook")

GROUP_VARIABLE = "MEMPOOL_ASG_NAME"
HOOK_VARIABLE = "MEMPOOL_LAUNCH_HOOK"
# Auto Scaling's answer when the instance has no pending action for the hook: already
# completed (a restart of the service), timed out, or launched before the hook existed.
# Retrying cannot change it.
NOT_PENDING_CODE = "ValidationError"


@dataclass(frozen=True, slots=True)
class LaunchHook:
    group: str  # the Auto Scaling group's name
    hook: str  # its launch lifecycle hook's name

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, env_file: str | None = None
    ) -> LaunchHook | None:
        """From the environment, then the env file (as Settings.load reads them); None
        when neither variable is set. One without the other is a configuration error:
        the instance would wait in Pending:Wait until its heartbeat ran out."""
        source = os.environ if environ is None else environ
        env = dict(read_env_file(env_file or source.get("MEMPOOL_ENV_FILE", DEFAULT_ENV_FILE)))
        env.update(source)
        group, hook = env.get(GROUP_VARIABLE, ""), env.get(HOOK_VARIABLE, "")
        if not group and not hook:
            return None
        if not group or not hook:
            missing = GROUP_VARIABLE if not group else HOOK_VARIABLE
            raise ConfigError(
                f"{missing} is not set: set both {GROUP_VARIABLE} and {HOOK_VARIABLE}, or neither"
            )
        return cls(group=group, hook=hook)


def instance_id_from_imds(imds_base: str = IMDS_BASE, timeout_s: float = 2.0) -> str:
    """This instance's id from the metadata service, IMDSv2 (a session token first: the
    launch template requires tokens)."""
    token_req = urllib.request.Request(
        f"{imds_base}/api/token",
        method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
    )
    with urllib.request.urlopen(token_req, timeout=timeout_s) as resp:
        token = resp.read().decode()
    id_req = urllib.request.Request(
        f"{imds_base}/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token}
    )
    with urllib.request.urlopen(id_req, timeout=timeout_s) as resp:
        return str(resp.read().decode().strip())


class LaunchReadiness:
    """Completes the launch lifecycle action once, after the first accepted delivery.

    `delivered()` is what the Firehose client calls on every accepted batch: the first
    call starts the completion in a thread of its own (so a flush never waits for Auto
    Scaling or its retries), every later call costs a flag check."""

    def __init__(
        self,
        hook: LaunchHook,
        autoscaling: Any,
        instance_id: Callable[[], str] = instance_id_from_imds,
        attempts: int = 5,
        backoff_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.hook = hook
        self.autoscaling = autoscaling
        self.instance_id = instance_id
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.completed = False  # Auto Scaling took the CONTINUE
        self._started = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def delivered(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        self._thread = threading.Thread(target=self.complete, name="launch-hook", daemon=True)
        self._thread.start()

    def join(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def complete(self) -> bool:
        """CompleteLifecycleAction(CONTINUE) for this instance: True once Auto Scaling
        took it; False after the attempts, or when no action is pending. Never raises."""
        for attempt in range(1, self.attempts + 1):
            try:
                instance = self.instance_id()
                self.autoscaling.complete_lifecycle_action(
                    AutoScalingGroupName=self.hook.group,
                    LifecycleHookName=self.hook.hook,
                    LifecycleActionResult="CONTINUE",
                    InstanceId=instance,
                )
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code, message = error.get("Code", "?"), error.get("Message", "")
                if code == NOT_PENDING_CODE:
                    log.info(
                        "launch hook %s of %s: nothing pending for this instance (%s); "
                        "already completed or timed out",
                        self.hook.hook,
                        self.hook.group,
                        message,
                    )
                    return False
                reason = f"{code}: {message}"
            except (BotoCoreError, urllib.error.URLError, OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # never let the signal take the streamer down
                reason = f"{type(exc).__name__}: {exc}"
            else:
                self.completed = True
                log.info(
                    "launch hook %s of %s completed (CONTINUE) for %s: this streamer is streaming",
                    self.hook.hook,
                    self.hook.group,
                    instance,
                )
                return True
            if attempt == self.attempts:
                log.error(
                    "launch hook %s of %s not completed after %d attempts (%s); Auto "
                    "Scaling abandons this instance when the hook's heartbeat runs out",
                    self.hook.hook,
                    self.hook.group,
                    attempt,
                    reason,
                )
                return False
            log.warning(
                "launch hook %s of %s: attempt %d failed (%s); retrying",
                self.hook.hook,
                self.hook.group,
                attempt,
                reason,
            )
            self.sleep(self.backoff_s * attempt)
        return False


class ReportingFirehose:
    """A Firehose client that reports every batch Firehose accepted at least one record
    of (what FirehoseSink counts as delivered), and is otherwise the client itself."""

    def __init__(self, client: Any, on_accepted: Callable[[], None]) -> None:
        self._client = client
        self._on_accepted = on_accepted

    def put_record_batch(self, **kwargs: Any) -> Any:
        resp = self._client.put_record_batch(**kwargs)
        if int(resp.get("FailedPutCount", 0)) < len(kwargs.get("Records", [])):
            try:
                self._on_accepted()
            except Exception:  # the report is a side matter: the delivery stands
                log.exception("reporting an accepted Firehose batch failed")
        return resp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
