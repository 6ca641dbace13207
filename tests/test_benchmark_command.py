"""`cncfdemo benchmark`: the Job it submits, how it follows the run, and the whole command.

No Kubernetes API server can run here (see FACTS.md), so the Kubernetes client's BatchV1Api and
CoreV1Api are replaced by recording fakes that hold the stack's real CronJob (from the program's
offline run). The tests check the objects submitted through them, against the Kubernetes schema
with kubernetes-validate. The end-to-end test then plays the kubelet: it runs the submitted
container's wrk command for real against a loopback server, with the workloads' hook pushing to
a real Pushgateway, and the command reads the results back from a real Prometheus.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import benchmark_servers as servers
import kubernetes_validate
import pytest
from click.testing import CliRunner
from conftest import require_tool
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from cncfdemo import benchmark as bench
from cncfdemo import render
from cncfdemo.benchmark_results import BenchmarkFile
from cncfdemo.cli import main

STACK = "aws-demo"
KUBERNETES_VERSION = "1.35.3"
UID = "0f0e0d0c-1111-2222-3333-444455556666"

write_api = servers.write_api
pushgateway = servers.pushgateway
prometheus = servers.prometheus


# the stack's template, as the API server would hand it back ----------------------------------

class _HttpResponse:
    """The one attribute of an HTTP response that `ApiClient.deserialize` reads."""

    def __init__(self, body: str) -> None:
        self.data = body


def as_model(manifest: dict, kind: str):
    """A manifest as the Kubernetes client's model object, the way a read returns it."""
    return k8s.ApiClient().deserialize(_HttpResponse(json.dumps(manifest)), kind)


@pytest.fixture
def template(program_run) -> dict:
    run = program_run(STACK)
    wanted = run.outputs["benchmark"]["cronJob"]
    found = [render.kubernetes_object(r) for r in run.of_type("kubernetes:batch/v1:CronJob")
             if r.plain_inputs["metadata"]["name"] == wanted]
    assert len(found) == 1, f"the stack's benchmark output names cronjob/{wanted}"
    cron_job = found[0]
    cron_job["metadata"]["uid"] = UID
    return cron_job


def wrk_container(spec: dict) -> dict:
    return next(c for c in spec["template"]["spec"]["containers"] if c["name"] == "wrk")


def env_of(container: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in container["env"]}


# recording fakes of the client's APIs -----------------------------------------------------------

def pod(name: str, phase: str, waiting: str | None = None, exit_code: int | None = None):
    state = k8s.V1ContainerState(
        waiting=k8s.V1ContainerStateWaiting(reason=waiting, message="back-off pulling image")
        if waiting else None,
        terminated=k8s.V1ContainerStateTerminated(
            exit_code=exit_code, reason="Completed" if exit_code == 0 else "Error")
        if exit_code is not None else None)
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, creation_timestamp=datetime.datetime(
            2026, 12, 3, 12, 0, tzinfo=datetime.UTC)),
        status=k8s.V1PodStatus(phase=phase, container_statuses=[k8s.V1ContainerStatus(
            name="wrk", image="wrk", image_id="", ready=phase == "Running", restart_count=0,
            state=state)]))


def job_status(succeeded: int = 0, failed: int = 0, reason: str | None = None):
    conditions = [k8s.V1JobCondition(type="Failed", status="True", reason=reason,
                                     message="Job has reached the specified backoff limit")
                  ] if reason else None
    return k8s.V1Job(status=k8s.V1JobStatus(succeeded=succeeded or None, failed=failed or None,
                                            conditions=conditions))


class FakeBatch:
    """Answers like BatchV1Api for one CronJob; records every Job created."""

    def __init__(self, cron_job: dict, statuses=None) -> None:
        self.api_client = k8s.ApiClient()
        self.cron_job = cron_job
        self.created: list[tuple[str, dict]] = []
        self.statuses = statuses or (lambda step, body: job_status(succeeded=1))
        self.reads = 0

    def read_namespaced_cron_job(self, name, namespace):
        metadata = self.cron_job["metadata"]
        if (name, namespace) != (metadata["name"], metadata["namespace"]):
            raise ApiException(status=404, reason="Not Found")
        return as_model(self.cron_job, "V1CronJob")

    def create_namespaced_job(self, namespace, body):
        self.created.append((namespace, body))
        return body

    def read_namespaced_job_status(self, name, namespace):
        assert self.created and self.created[-1][1]["metadata"]["name"] == name
        self.reads += 1
        return self.statuses(self.reads, self.created[-1][1])


class FakeCore:
    def __init__(self, pods=None) -> None:
        self.pods = pods or (lambda step: [])
        self.selectors: list[str] = []

    def list_namespaced_pod(self, namespace, label_selector):
        self.selectors.append(label_selector)
        return k8s.V1PodList(items=self.pods(len(self.selectors)))


class Clock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# the Job ----------------------------------------------------------------------------------------

def test_the_job_is_the_template_with_this_runs_settings(template):
    batch = FakeBatch(template)
    settings = bench.RunSettings("benchmark-20261203-120000-ab12", "aws-demo-20261203-120000-ab12",
                                 duration_seconds=120, connections=32, threads=2)
    body = bench.start_run(batch, "demo", "benchmark", settings)

    assert batch.created == [("demo", body)]
    assert kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True) is not None
    metadata = body["metadata"]
    assert (metadata["name"], metadata["namespace"]) == (settings.job_name, "demo")
    assert metadata["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "CronJob", "name": "benchmark", "uid": UID,
        "controller": True, "blockOwnerDeletion": True}]
    assert metadata["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert metadata["labels"] == template["spec"]["jobTemplate"]["metadata"]["labels"]

    before = template["spec"]["jobTemplate"]["spec"]
    after = body["spec"]
    wrk, old = wrk_container(after), wrk_container(before)
    assert bench.wrk_settings(old["args"]) == {"duration": 300, "connections": 64, "threads": 4}
    assert bench.wrk_settings(wrk["args"]) == {"duration": 120, "connections": 32, "threads": 2}
    assert [a for a in wrk["args"] if not re.match(r"--(duration|connections|threads)=", a)] \
        == [a for a in old["args"] if not re.match(r"--(duration|connections|threads)=", a)]
    env = env_of(wrk)
    assert env["RUN_ID"] == {"name": "RUN_ID", "value": settings.run_id}
    assert env["BENCHMARK_CONNECTIONS"] == {"name": "BENCHMARK_CONNECTIONS", "value": "32"}
    assert after["activeDeadlineSeconds"] == before["activeDeadlineSeconds"] - 300 + 120
    old_cpu, new_cpu = old["resources"]["limits"]["cpu"], wrk["resources"]["limits"]["cpu"]
    assert bench._scale_cpu(str(old_cpu), 0.5) == new_cpu

    # everything else is the template's, untouched
    for changed in ("args", "env", "resources"):
        wrk.pop(changed), old.pop(changed)
    after.pop("activeDeadlineSeconds"), before.pop("activeDeadlineSeconds")
    assert after == before


def test_without_overrides_only_the_run_id_changes(template):
    body = bench.job_from_cron_job(template, bench.RunSettings("benchmark-x", "aws-demo-x"))
    before = template["spec"]["jobTemplate"]["spec"]
    assert env_of(wrk_container(before))["RUN_ID"]["valueFrom"]
    assert env_of(wrk_container(body["spec"]))["RUN_ID"] == {"name": "RUN_ID",
                                                             "value": "aws-demo-x"}
    assert wrk_container(body["spec"])["args"] == wrk_container(before)["args"]
    assert body["spec"]["activeDeadlineSeconds"] == before["activeDeadlineSeconds"]


@pytest.mark.parametrize("args", [["-t", "4", "-c64"], ["--threads", "4", "--connections=64"],
                                  ["-t4", "-c", "64"]])
def test_every_spelling_of_wrk_options_is_replaced(args):
    changed = bench._set_flag(bench._set_flag(args, "threads", "t", "8"), "connections", "c",
                              "128")
    assert bench.wrk_settings(changed) == {"threads": 8, "connections": 128}
    assert len(changed) == 2


def test_a_missing_template_says_which(template):
    with pytest.raises(bench.BenchmarkError, match="cronjob/benchmark in namespace other"):
        bench.start_run(FakeBatch(template), "other", "benchmark",
                        bench.RunSettings("benchmark-x", "x"))


def test_run_ids_are_valid_names_and_labels():
    job, run_id = bench.new_run_id("aws-demo", datetime.datetime(2026, 12, 3, 12, 0, 5))
    assert re.fullmatch(r"benchmark-20261203-120005-[0-9a-f]{4}", job)
    assert run_id == "aws-demo-" + job.removeprefix("benchmark-")
    assert len(job) <= 63 and re.fullmatch(r"[A-Za-z0-9._-]+", run_id)


def test_the_kubeconfig_output_makes_the_clients(program_run):
    """Building the clients reads the kubeconfig only; nothing is contacted."""
    outputs = program_run(STACK).outputs
    batch, core = bench.kubernetes_apis(outputs["kubeconfig"])
    assert batch.api_client.configuration.host == outputs["apiEndpoint"]
    assert core.api_client.configuration.host == outputs["apiEndpoint"]


# following the run ------------------------------------------------------------------------------

def follow(batch, core, expected=120, timeout=720):
    clock, lines = Clock(), []
    try:
        pod_state = bench.follow(batch, core, "demo", batch.created[-1][1]["metadata"]["name"],
                                 expected, timeout, lines.append, clock=clock,
                                 sleep=clock.sleep)
    except bench.BenchmarkError as err:
        return err, lines
    return pod_state, lines


def _started_batch(template, statuses) -> FakeBatch:
    batch = FakeBatch(template, statuses)
    bench.start_run(batch, "demo", "benchmark", bench.RunSettings("benchmark-r1", "aws-demo-r1"))
    return batch


def test_progress_shows_elapsed_time_and_the_pod_phase(template):
    batch = _started_batch(template, lambda step, body: job_status(succeeded=int(step >= 30)))
    core = FakeCore(lambda step: [] if step < 3 else [
        pod("benchmark-r1-abcde", "Pending" if step < 5 else "Running")])
    result, lines = follow(batch, core)
    assert result.name == "benchmark-r1-abcde"
    assert lines[0] == "  0m00s of 2m00s expected, waiting for the pod"
    assert "  0m10s of 2m00s expected, pod benchmark-r1-abcde: Pending (ContainerCreating)" \
        not in lines  # a waiting reason shows only when the kubelet gives one
    assert any(line.startswith("  0m20s of 2m00s expected, pod benchmark-r1-abcde: Running")
               for line in lines)
    assert lines[-1].startswith("  2m25s done, pod benchmark-r1-abcde: Running")
    assert core.selectors[0] == "batch.kubernetes.io/job-name=benchmark-r1"


def test_a_failed_run_says_what_happened_and_which_pod_to_read(template):
    batch = _started_batch(template, lambda step, body: job_status(
        failed=int(step >= 3), reason="BackoffLimitExceeded" if step >= 3 else None))
    core = FakeCore(lambda step: [pod("benchmark-r1-xyz12",
                                      "Failed" if step >= 3 else "Running",
                                      exit_code=1 if step >= 3 else None)])
    error, _ = follow(batch, core)
    assert isinstance(error, bench.BenchmarkError)
    message = str(error)
    assert "job/benchmark-r1 failed (BackoffLimitExceeded" in message
    assert "pod benchmark-r1-xyz12: Failed (exit code 1, Error)" in message
    assert "kubectl -n demo logs benchmark-r1-xyz12" in message


def test_a_pod_that_cannot_start_fails_at_once(template):
    batch = _started_batch(template, lambda step, body: job_status())
    core = FakeCore(lambda step: [pod("benchmark-r1-img00", "Pending", waiting="ImagePullBackOff")])
    error, lines = follow(batch, core)
    assert "cannot run: pod benchmark-r1-img00: Pending (ImagePullBackOff" in str(error)
    assert "kubectl -n demo describe pod benchmark-r1-img00" in str(error)
    assert batch.reads == 1


SCHEDULER_SAYS = ("0/4 nodes are available: 1 node(s) had untolerated taint "
                  "{node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu. preemption: "
                  "0/4 nodes are available: 4 No preemption victims found for incoming pod.")


def unschedulable_pod(name: str):
    """A pod as the API shows it once the scheduler has found no node for it."""
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, creation_timestamp=datetime.datetime(
            2026, 12, 3, 12, 0, tzinfo=datetime.UTC)),
        status=k8s.V1PodStatus(phase="Pending", conditions=[k8s.V1PodCondition(
            type="PodScheduled", status="False", reason="Unschedulable",
            message=SCHEDULER_SAYS)]))


def test_a_pod_that_cannot_be_scheduled_fails_at_once(template):
    batch = _started_batch(template, lambda step, body: job_status())
    core = FakeCore(lambda step: [unschedulable_pod("benchmark-r1-big00")])
    error, lines = follow(batch, core)
    assert isinstance(error, bench.BenchmarkError)
    message = str(error)
    assert "job/benchmark-r1 cannot run: its pod benchmark-r1-big00 cannot be scheduled" in message
    assert f"The scheduler says: {SCHEDULER_SAYS}" in message
    assert "fewer --threads (and --connections)" in message
    assert "kubectl -n demo delete job benchmark-r1" in message
    assert "kubectl -n demo describe pod benchmark-r1-big00" in message
    assert batch.reads == 1 and lines == []


def test_a_pod_waiting_for_its_turn_to_be_scheduled_is_waited_for(template):
    """Only the scheduler's verdict counts: a pod it has not looked at yet is just Pending."""
    waiting = unschedulable_pod("benchmark-r1-new00")
    waiting.status.conditions = None
    batch = _started_batch(template, lambda step, body: job_status(succeeded=int(step >= 3)))
    result, _ = follow(batch, FakeCore(lambda step: [waiting]))
    assert result.name == "benchmark-r1-new00" and result.unschedulable is None


def test_a_run_that_outlasts_its_timeout_is_stopped_waiting_for(template):
    batch = _started_batch(template, lambda step, body: job_status())
    core = FakeCore(lambda step: [pod("benchmark-r1-slow0", "Running")])
    error, lines = follow(batch, core, expected=60, timeout=90)
    message = str(error)
    assert "did not finish within 1m30s (pod benchmark-r1-slow0: Running)" in message
    assert "kubectl -n demo logs benchmark-r1-slow0" in message
    assert "kubectl -n demo delete job benchmark-r1" in message


def test_a_job_without_pods_points_at_the_job(template):
    batch = _started_batch(template, lambda step, body: job_status())
    error, _ = follow(batch, FakeCore(), expected=10, timeout=20)
    assert "No pod was created: see `kubectl -n demo describe job benchmark-r1`" in str(error)


# stack outputs -------------------------------------------------------------------------------

def test_outputs_without_the_workloads_are_a_clear_error():
    with pytest.raises(bench.BenchmarkError, match=r"lack namespace, cronJob, prometheusUrl"):
        bench.Target.from_outputs("aws-demo", {"kubeconfig": "x", "benchmark": {}})


def test_reading_outputs_without_pulumi_says_how_else(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(bench.BenchmarkError, match="--outputs-file"):
        bench.stack_outputs("aws-demo")


def test_a_private_prometheus_without_kubectl_asks_for_a_url(program_run, monkeypatch):
    target = bench.Target.from_outputs(STACK, program_run(STACK).outputs)
    assert target.prometheus_public is None  # aws-demo keeps Prometheus inside the cluster
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(bench.BenchmarkError, match="--prometheus-url"), \
            bench.prometheus_endpoint(target):
        pass


# the whole command, with the kubelet played here ----------------------------------------------

def play_kubelet(body: dict, api_url: str, pushgateway_url: str, folder: Path) -> str:
    """Run the submitted container's command as the kubelet would: its env, its args, the
    ConfigMap's script (the workloads' hook), in-cluster URLs swapped for loopback ones."""
    wrk = wrk_container(body["spec"])
    env = {"PATH": os.environ["PATH"]}
    for entry in wrk["env"]:
        assert "value" in entry, f"{entry['name']} must be set for the run, not derived"
        env[entry["name"]] = entry["value"]
    env["COUNTLY_API_URL"] = api_url
    env["PUSHGATEWAY_URL"] = pushgateway_url
    key_file = folder / "app-key"
    key_file.write_text(servers.APP_KEY)
    env["COUNTLY_APP_KEY_FILE"] = str(key_file)

    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg) for arg in wrk["args"]]
    args = [f"--script={servers.HOOK}" if arg.startswith("--script=") else arg for arg in args]
    done = subprocess.run([require_tool("wrk"), *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


@pytest.mark.slow
def test_the_command_runs_a_benchmark_and_saves_its_results(
        template, program_run, write_api, pushgateway, prometheus, tmp_path, monkeypatch):
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(program_run(STACK).outputs))
    wrk_output: list[str] = []

    def kubelet(step: int, body: dict):
        if step == 1:
            wrk_output.append(play_kubelet(body, write_api, pushgateway, tmp_path))
        return job_status(succeeded=1)

    batch = FakeBatch(template, kubelet)
    core = FakeCore(lambda step: [pod("benchmark-run-pod00", "Succeeded", exit_code=0)])
    monkeypatch.setattr(bench, "kubernetes_apis", lambda kubeconfig: (batch, core))

    out, html = tmp_path / "results" / "aws-demo.benchmark.json", tmp_path / "run.html"
    done = CliRunner().invoke(main, [
        "benchmark", "--stack", STACK, "--time", "2s", "--connections", "4", "--threads", "2",
        "--outputs-file", str(outputs_file), "--prometheus-url", prometheus,
        "--out", str(out), "--save-html", str(html)])
    assert done.exit_code == 0, done.output

    (namespace, body), = batch.created
    run_id = env_of(wrk_container(body["spec"]))["RUN_ID"]["value"]
    assert namespace == "demo" and run_id.startswith("aws-demo-")
    hook = json.loads(re.search(r"^cncfdemo-benchmark-result (.*)$", wrk_output[0],
                                re.M).group(1))
    saved = BenchmarkFile.load(out)
    assert (saved.result.run_id, saved.result.stack, saved.result.provider) == (
        run_id, "aws-demo", "aws")
    assert saved.result.requests == hook["requests"] > 0
    assert saved.result.throughput == hook["throughput"]
    assert saved.result.latency_seconds == hook["latency_seconds"]
    assert (saved.result.connections, saved.result.threads) == (4, 2)
    assert saved.job == {"namespace": "demo", "name": body["metadata"]["name"],
                         "pod": "benchmark-run-pod00"}
    assert f"run {run_id} started as job/{body['metadata']['name']} in demo (2s, 4 connections" \
        in done.output
    assert str(out) in done.output
    page = html.read_text()
    assert run_id in page and "<svg" in page and "<script" not in page


def test_more_threads_than_connections_is_refused(template, program_run, tmp_path, monkeypatch):
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(program_run(STACK).outputs))
    batch = FakeBatch(template)
    monkeypatch.setattr(bench, "kubernetes_apis", lambda kubeconfig: (batch, FakeCore()))
    done = CliRunner().invoke(main, ["benchmark", "--stack", STACK, "--connections", "2",
                                     "--threads", "8", "--outputs-file", str(outputs_file)])
    assert done.exit_code == 1
    assert "8 threads need at least as many connections" in done.output
    assert batch.created == []


def test_without_the_kubernetes_client_the_command_says_what_to_install(
        program_run, tmp_path, monkeypatch):
    """`pip install -e .` without the `benchmark` extra leaves the client out."""
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(program_run(STACK).outputs))
    # None in sys.modules makes `import kubernetes` raise ModuleNotFoundError, as if absent
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    done = CliRunner().invoke(main, ["benchmark", "--stack", STACK,
                                     "--outputs-file", str(outputs_file)])
    assert done.exit_code == 1, done.output
    assert isinstance(done.exception, SystemExit)  # a clean error, not a traceback
    assert "needs the Kubernetes Python client" in done.output
    assert "pip install -e '.[benchmark]'" in done.output
