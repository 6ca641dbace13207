"""`cncfdemo benchmark`: start a run from the stack's benchmark template, follow it, read it back.

The stack deploys a suspended CronJob (its `benchmark` output names it). A run is a Job made
from that template, as `kubectl create job --from=cronjob/...` would, with this run's duration,
connections, threads and RUN_ID. When wrk ends, its hook pushes the summary to the Pushgateway;
the results are then read from Prometheus (see cncfdemo.benchmark_results).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_DURATION = re.compile(r"^([1-9]\d*)([smh])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}
# the label the Job controller puts on its pods (Kubernetes 1.27 and later)
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
# pod states that will not get better by waiting
HOPELESS_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                    "CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff")
PROGRESS_EVERY_SECONDS = 30


class BenchmarkError(Exception):
    """The run could not start, failed or timed out; the message says where to look."""


def parse_duration(text: str) -> int:
    match = _DURATION.match(text.strip())
    if not match:
        raise BenchmarkError(f"{text!r} is not a duration like 90s, 5m or 1h.")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def clock_text(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def new_run_id(stack: str, now: datetime.datetime | None = None) -> tuple[str, str]:
    """(job name, run id): unique per run, valid as a DNS name and as a Prometheus label."""
    now = now or datetime.datetime.now(datetime.UTC)
    suffix = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    return f"benchmark-{suffix}", f"{stack}-{suffix}"


# stack outputs --------------------------------------------------------------------------------

def stack_outputs(stack: str, outputs_file: Path | None = None,
                  run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> dict:
    """The stack's outputs, from a saved `pulumi stack output --json` or from the CLI."""
    if outputs_file is not None:
        try:
            return json.loads(outputs_file.read_text())
        except (OSError, ValueError) as err:
            raise BenchmarkError(f"cannot read stack outputs from {outputs_file}: {err}") from err
    if shutil.which("pulumi") is None:
        raise BenchmarkError("the pulumi CLI is not installed, so the stack's outputs cannot be "
                             "read; install it, or pass --outputs-file with the output of "
                             f"`pulumi stack output --json --show-secrets --stack {stack}`.")
    done = run(["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack],
               capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchmarkError(f"`pulumi stack output --stack {stack}` failed: "
                             f"{done.stderr.strip()}")
    return json.loads(done.stdout)


@dataclass(frozen=True)
class Target:
    """What a run needs from the stack's outputs."""

    stack: str
    provider: str
    kubeconfig: str
    namespace: str
    cron_job: str
    prometheus_in_cluster: str
    prometheus_public: str | None

    @classmethod
    def from_outputs(cls, stack: str, outputs: dict) -> Target:
        benchmark = outputs.get("benchmark") or {}
        missing = [key for key in ("namespace", "cronJob", "prometheusUrl") if key not in benchmark]
        if not outputs.get("kubeconfig"):
            missing.append("kubeconfig (read with --show-secrets)")
        if missing:
            raise BenchmarkError(f"stack {stack}'s outputs lack {', '.join(missing)}: is the stack "
                                 "deployed with its workloads (`pulumi up`)?")
        public = outputs.get("prometheusUrl")
        return cls(
            stack=stack, provider=outputs.get("provider", ""), kubeconfig=outputs["kubeconfig"],
            namespace=benchmark["namespace"], cron_job=benchmark["cronJob"],
            prometheus_in_cluster=benchmark["prometheusUrl"],
            prometheus_public=public if str(public).startswith(("http://", "https://"))
            else None,
        )


def kubernetes_apis(kubeconfig: str):
    """(BatchV1Api, CoreV1Api) bound to the stack's admin kubeconfig."""
    from kubernetes import client, config

    api_client = config.new_client_from_config_dict(yaml.safe_load(kubeconfig))
    return client.BatchV1Api(api_client), client.CoreV1Api(api_client)


# the Job --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSettings:
    job_name: str
    run_id: str
    duration_seconds: int | None = None
    connections: int | None = None
    threads: int | None = None


def _flag(args: list[str], long: str, short: str) -> tuple[int, str] | None:
    """Where wrk's option sits in `args` (`--threads=4`, `--threads 4`, `-t4`, `-t 4`)."""
    for index, arg in enumerate(args):
        if arg.startswith(f"--{long}="):
            return index, arg.split("=", 1)[1]
        if arg in (f"--{long}", f"-{short}") and index + 1 < len(args):
            return index, args[index + 1]
        if arg.startswith(f"-{short}") and not arg.startswith("--") and len(arg) > 2:
            return index, arg[2:]
    return None


def _set_flag(args: list[str], long: str, short: str, value: str) -> list[str]:
    found = _flag(args, long, short)
    if found is None:
        return [*args, f"--{long}={value}"]
    index, _ = found
    spans_two = args[index] in (f"--{long}", f"-{short}")
    return [*args[:index], f"--{long}={value}", *args[index + (2 if spans_two else 1):]]


def wrk_settings(args: list[str]) -> dict[str, int]:
    """Duration (seconds), connections and threads as wrk's arguments set them."""
    found = {}
    for long, short in (("duration", "d"), ("connections", "c"), ("threads", "t")):
        flag = _flag(args, long, short)
        if flag is not None:
            value = flag[1]
            found[long] = parse_duration(value) if long == "duration" else int(value)
    return found


def _scale_cpu(quantity: str, factor: float) -> str:
    millis = float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000
    return f"{max(1, round(millis * factor))}m"


def _set_env(env: list[dict], name: str, value: str) -> list[dict]:
    kept = [entry for entry in env if entry.get("name") != name]
    return [*kept, {"name": name, "value": value}]


def job_from_cron_job(cron_job: dict[str, Any], settings: RunSettings) -> dict[str, Any]:
    """The Job `kubectl create job --from=cronjob/NAME` would make, with this run's settings.

    `cron_job` is the CronJob as the API returns it (JSON form, camelCase keys).
    """
    metadata = cron_job["metadata"]
    template = cron_job["spec"]["jobTemplate"]
    spec = copy.deepcopy(template["spec"])
    containers = spec["template"]["spec"]["containers"]
    wrk = next((c for c in containers if c.get("name") == "wrk"
                or (c.get("command") or [""])[0] == "wrk"), containers[0])

    args = list(wrk.get("args") or [])
    before = wrk_settings(args)
    if settings.duration_seconds is not None:
        args = _set_flag(args, "duration", "d", f"{settings.duration_seconds}s")
    if settings.connections is not None:
        args = _set_flag(args, "connections", "c", str(settings.connections))
    if settings.threads is not None:
        args = _set_flag(args, "threads", "t", str(settings.threads))
    after = wrk_settings(args)
    wrk["args"] = args

    env = _set_env(wrk.get("env") or [], "RUN_ID", settings.run_id)
    if "connections" in after:
        env = _set_env(env, "BENCHMARK_CONNECTIONS", str(after["connections"]))
    wrk["env"] = env

    # the template's margin beyond its duration (pull, connect, push) stays the same
    if "activeDeadlineSeconds" in spec and "duration" in before and "duration" in after:
        spec["activeDeadlineSeconds"] += after["duration"] - before["duration"]

    # wrk keeps about one core per thread busy: CPU follows the thread count
    if before.get("threads") and after.get("threads") and before["threads"] != after["threads"]:
        factor = after["threads"] / before["threads"]
        for kind in ("requests", "limits"):
            amounts = (wrk.get("resources") or {}).get(kind) or {}
            if "cpu" in amounts:
                amounts["cpu"] = _scale_cpu(str(amounts["cpu"]), factor)

    template_metadata = template.get("metadata") or {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": settings.job_name,
            "namespace": metadata["namespace"],
            "labels": dict(template_metadata.get("labels") or {}),
            "annotations": {**(template_metadata.get("annotations") or {}),
                            "cronjob.kubernetes.io/instantiate": "manual"},
            # removing the CronJob (pulumi destroy) removes its runs too
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                 "name": metadata["name"], "uid": metadata["uid"],
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": spec,
    }


def run_settings(job: dict[str, Any]) -> dict[str, int]:
    """Duration, connections and threads of a Job's wrk container."""
    containers = job["spec"]["template"]["spec"]["containers"]
    wrk = next((c for c in containers if c.get("name") == "wrk"), containers[0])
    return wrk_settings(wrk.get("args") or [])


def start_run(batch, namespace: str, cron_job_name: str, settings: RunSettings) -> dict:
    from kubernetes.client.exceptions import ApiException

    try:
        cron_job = batch.read_namespaced_cron_job(cron_job_name, namespace)
    except ApiException as err:
        raise BenchmarkError(f"cannot read the benchmark template cronjob/{cron_job_name} in "
                             f"namespace {namespace}: {err.status} {err.reason}") from err
    body = job_from_cron_job(batch.api_client.sanitize_for_serialization(cron_job), settings)
    wrk = run_settings(body)
    if wrk.get("threads", 1) > wrk.get("connections", 1):
        raise BenchmarkError(f"{wrk['threads']} threads need at least as many connections (the "
                             f"run has {wrk['connections']}); wrk would refuse to start.")
    try:
        batch.create_namespaced_job(namespace, body)
    except ApiException as err:
        raise BenchmarkError(f"cannot create job/{settings.job_name} in namespace {namespace}: "
                             f"{err.status} {err.reason}") from err
    return body


# following it ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PodState:
    name: str
    phase: str
    detail: str = ""
    hopeless: bool = False
    # the scheduler's reason for leaving the pod on no node, when it has given up on it
    unschedulable: str | None = None

    def describe(self) -> str:
        return f"pod {self.name}: {self.phase}" + (f" ({self.detail})" if self.detail else "")


def pod_state(pod) -> PodState:
    status = pod.status
    detail, hopeless = "", False
    for condition in status.conditions or []:
        if (condition.type, condition.status, condition.reason) == (
                "PodScheduled", "False", "Unschedulable"):
            message = condition.message or "no reason given"
            return PodState(pod.metadata.name, status.phase or "Pending",
                            f"Unschedulable: {message}", True, message)
    for container in status.container_statuses or []:
        state = container.state
        if state and state.waiting and state.waiting.reason:
            detail = state.waiting.reason
            hopeless = state.waiting.reason in HOPELESS_WAITING
            if state.waiting.message:
                detail += f": {state.waiting.message}"
        elif state and state.terminated:
            detail = f"exit code {state.terminated.exit_code}"
            if state.terminated.reason:
                detail += f", {state.terminated.reason}"
    return PodState(pod.metadata.name, status.phase or "Unknown", detail, hopeless)


def newest_pod(core, namespace: str, job_name: str) -> PodState | None:
    pods = core.list_namespaced_pod(namespace, label_selector=f"{JOB_NAME_LABEL}={job_name}")
    if not pods.items:
        return None
    newest = max(pods.items, key=lambda p: p.metadata.creation_timestamp or datetime.datetime.min)
    return pod_state(newest)


def _where_to_look(namespace: str, job_name: str, pod: PodState | None) -> str:
    if pod is None:
        return (f"No pod was created: see `kubectl -n {namespace} describe job {job_name}` "
                "(quota, priority or admission problems show there).")
    return (f"Look at `kubectl -n {namespace} logs {pod.name}` and "
            f"`kubectl -n {namespace} describe pod {pod.name}`.")


def follow(batch, core, namespace: str, job_name: str, expected_seconds: int, timeout: float,
           echo: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep, poll: float = 5) -> PodState:
    """Wait for the Job to succeed, showing progress; raise BenchmarkError saying why not."""
    start = clock()
    shown: tuple[str, str] | None = None
    last_shown = start
    while True:
        elapsed = clock() - start
        job = batch.read_namespaced_job_status(job_name, namespace)
        pod = newest_pod(core, namespace, job_name)
        status = job.status
        if status.succeeded:
            echo(f"  {clock_text(elapsed)} done, {pod.describe() if pod else 'no pod'}")
            return pod
        failed = [c for c in status.conditions or [] if c.type == "Failed" and c.status == "True"]
        if failed or status.failed:
            why = (f"{failed[0].reason}: {failed[0].message}" if failed
                   else f"{status.failed} pod(s) failed")
            state = f" Its {pod.describe()}." if pod else ""
            raise BenchmarkError(f"job/{job_name} failed ({why}).{state} "
                                 + _where_to_look(namespace, job_name, pod))
        # No autoscaler adds nodes to these clusters, so a pod the scheduler cannot place now
        # waits for the whole timeout; wrk's CPU request grows with its threads.
        if pod is not None and pod.unschedulable is not None:
            said = pod.unschedulable.strip().rstrip(".")
            raise BenchmarkError(
                f"job/{job_name} cannot run: its pod {pod.name} cannot be scheduled. The "
                f"scheduler says: {said}. wrk asks for about one CPU per thread: run "
                "again with fewer --threads (and --connections), or give the cluster bigger or "
                f"more minions. Remove this run with `kubectl -n {namespace} delete job "
                f"{job_name}`; `kubectl -n {namespace} describe pod {pod.name}` shows the "
                "scheduler's events.")
        if pod is not None and pod.hopeless:
            raise BenchmarkError(f"job/{job_name} cannot run: {pod.describe()}. "
                                 + _where_to_look(namespace, job_name, pod))
        if elapsed > timeout:
            state = pod.describe() if pod else "no pod yet"
            raise BenchmarkError(
                f"job/{job_name} did not finish within {clock_text(timeout)} ({state}). "
                + _where_to_look(namespace, job_name, pod)
                + f" Stop it with `kubectl -n {namespace} delete job {job_name}`.")
        now_shown = (pod.phase, pod.detail) if pod else ("Pending", "no pod yet")
        if now_shown != shown or clock() - last_shown >= PROGRESS_EVERY_SECONDS:
            echo(f"  {clock_text(elapsed)} of {clock_text(expected_seconds)} expected, "
                 + (pod.describe() if pod else "waiting for the pod"))
            shown, last_shown = now_shown, clock()
        sleep(poll)


# Prometheus, from outside the cluster ----------------------------------------------------------

@contextlib.contextmanager
def prometheus_endpoint(target: Target, url: str | None = None,
                        echo: Callable[[str], None] = print) -> Iterator[str]:
    """A URL that reaches the stack's Prometheus: the one given, its public URL, or a
    `kubectl port-forward` to its in-cluster Service for as long as the block runs."""
    if url:
        yield url
        return
    if target.prometheus_public:
        yield target.prometheus_public
        return
    parsed = urllib.parse.urlsplit(target.prometheus_in_cluster)
    service, namespace = (parsed.hostname or "").split(".")[:2]
    if shutil.which("kubectl") is None:
        raise BenchmarkError("Prometheus is not published outside the cluster and kubectl (for "
                             "a port-forward) is not installed: install it, or pass "
                             "--prometheus-url.")
    with tempfile.TemporaryDirectory(prefix="cncfdemo-") as folder:
        kubeconfig = Path(folder) / "kubeconfig"
        kubeconfig.write_text(target.kubeconfig)
        os.chmod(kubeconfig, 0o600)
        forward = subprocess.Popen(
            ["kubectl", "--kubeconfig", str(kubeconfig), "-n", namespace, "port-forward",
             f"svc/{service}", f":{parsed.port or 80}", "--address", "127.0.0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = forward.stdout.readline() if forward.stdout else ""
            match = re.search(r"127\.0\.0\.1:(\d+)", line)
            if not match:
                problem = forward.stderr.read() if forward.stderr else ""
                raise BenchmarkError(f"kubectl port-forward to svc/{service} in {namespace} "
                                     f"failed: {line.strip() or problem.strip()}")
            echo(f"  reading Prometheus through a port-forward to svc/{service}")
            yield f"http://127.0.0.1:{match.group(1)}"
        finally:
            forward.terminate()
            forward.wait(timeout=10)
