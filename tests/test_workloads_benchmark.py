"""The benchmark under mocks: the up-time Job, the CronJob template, settings, the secret key."""

from __future__ import annotations

import json

import pytest

from cncfdemo.harness import is_secret
from cncfdemo.render import kubernetes_object
from components.workloads import benchmark_metrics as metrics
from components.workloads.benchmark import SCRIPT_PATH, BenchmarkArgs
from components.workloads.platform import FOREGROUND_PRIORITY


def demo_objects(run, kind: str) -> dict[str, dict]:
    found = {}
    for resource in run.kubernetes_objects():
        obj = kubernetes_object(resource)
        if obj["kind"] == kind and obj["metadata"].get("namespace") == "demo":
            found[obj["metadata"]["name"]] = obj
    return found


def benchmark_jobs(run) -> dict[str, dict]:
    return {name: job for name, job in demo_objects(run, "Job").items()
            if job["metadata"]["labels"]["app.kubernetes.io/component"] == "benchmark"}


def wrk(pod_spec: dict) -> dict:
    (container,) = pod_spec["containers"]
    return container


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def test_one_run_at_up_and_a_suspended_template(program_run):
    run = program_run("local-demo")
    (job,) = benchmark_jobs(run).values()
    template = demo_objects(run, "CronJob")["benchmark"]
    assert template["spec"]["suspend"] is True
    assert template["spec"]["concurrencyPolicy"] == "Forbid"
    assert job["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    assert job["spec"]["backoffLimit"] == 0
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert template["spec"]["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] > 0

    # the run id: the stack and a random id, also the Job's name
    run_id = env_of(wrk(job["spec"]["template"]["spec"]))["RUN_ID"]["value"]
    suffix = job["metadata"]["name"].removeprefix("benchmark-up-")
    assert run_id == f"local-demo-{suffix}" and len(suffix) == 8
    # later runs are named after their Job unless `cncfdemo benchmark` sets RUN_ID
    later = env_of(wrk(template["spec"]["jobTemplate"]["spec"]["template"]["spec"]))["RUN_ID"]
    assert later["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['batch.kubernetes.io/job-name']"

    assert run.outputs["benchmark"] == {
        "namespace": "demo",
        "cronJob": "benchmark",
        "jobName": job["metadata"]["name"],
        "runId": run_id,
        "pushgatewayUrl": "http://pushgateway.monitoring.svc.cluster.local:9091",
        "prometheusUrl": "http://prometheus.monitoring.svc.cluster.local:9090",
    }


def test_benchmark_on_up_can_be_turned_off(program_run):
    run = program_run("local-demo", benchmarkOnUp="false")
    assert benchmark_jobs(run) == {}
    assert demo_objects(run, "CronJob")["benchmark"]["spec"]["suspend"] is True
    assert run.outputs["benchmark"]["jobName"] is None
    assert run.outputs["benchmark"]["cronJob"] == "benchmark"


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, ["--threads=2", "--connections=16", "--duration=60s"]),
    ({"benchmarkDuration": "2m", "benchmarkConnections": "100", "benchmarkThreads": "8"},
     ["--threads=8", "--connections=100", "--duration=120s"]),
])
def test_duration_connections_and_threads_follow_settings(program_run, overrides, expected):
    run = program_run("local-demo", **overrides)
    (job,) = benchmark_jobs(run).values()
    template = demo_objects(run, "CronJob")["benchmark"]["spec"]["jobTemplate"]
    for spec in (job["spec"], template["spec"]):
        container = wrk(spec["template"]["spec"])
        assert container["args"][:3] == expected
        assert container["args"][-1] == "$(COUNTLY_API_URL)"
        connections = expected[1].split("=")[1]
        assert env_of(container)["BENCHMARK_CONNECTIONS"]["value"] == connections
        assert spec["activeDeadlineSeconds"] > int(expected[2][len("--duration="):-1])


def test_changed_settings_make_a_new_run(program_run):
    """The run id's keepers: changing one replaces the id, and so the Job, at the next up."""
    def keepers(run):
        return run.named("local-demo-benchmark-run").plain_inputs["keepers"]

    current = keepers(program_run("local-demo"))
    assert set(current) == {"stack", "duration", "connections", "threads", "image", "script"}
    assert (current["duration"], current["connections"], current["threads"]) == ("60", "16", "2")
    assert keepers(program_run("local-demo", benchmarkConnections="32"))["connections"] == "32"


def test_wrk_writes_to_countly_with_the_key_from_a_secret(program_run):
    run = program_run("local-demo")
    (job,) = benchmark_jobs(run).values()
    env = env_of(wrk(job["spec"]["template"]["spec"]))
    assert env["COUNTLY_API_URL"]["value"] == "http://countly-api.demo.svc.cluster.local:3001"
    # the key is a file from the Secret, never an environment value
    assert "COUNTLY_APP_KEY" not in env
    assert env["COUNTLY_APP_KEY_FILE"]["value"] == "/var/run/secrets/cncfdemo/countly/app-key"
    spec = job["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "countly")
    assert volume["secret"] == {"secretName": "benchmark-countly", "defaultMode": 0o440}
    assert env["PUSHGATEWAY_URL"]["value"] == "http://pushgateway.monitoring.svc.cluster.local:9091"
    assert (env["BENCHMARK_STACK"]["value"], env["BENCHMARK_PROVIDER"]["value"]) == (
        "local-demo", "local")

    (secret,) = [r for r in run.of_type("kubernetes:core/v1:Secret")
                 if r.plain_inputs["metadata"]["name"] == "benchmark-countly"]
    string_data = secret.inputs["stringData"]
    assert is_secret(string_data) or is_secret(string_data["app-key"])
    key = secret.plain_inputs["stringData"]["app-key"]
    assert key in run.secret_values
    script = demo_objects(run, "ConfigMap")["benchmark-script"]
    assert key not in json.dumps(script) and key not in json.dumps(job)


def test_the_script_in_the_configmap_is_the_repository_file(program_run):
    script = demo_objects(program_run("local-demo"), "ConfigMap")["benchmark-script"]
    assert script["data"] == {"countly.lua": SCRIPT_PATH.read_text()}
    (job,) = benchmark_jobs(program_run("local-demo")).values()
    assert "--script=/etc/cncfdemo-benchmark/countly.lua" in wrk(job["spec"]["template"]["spec"])[
        "args"]


def test_the_script_pushes_every_metric_of_the_contract():
    script = SCRIPT_PATH.read_text()
    assert f'local JOB = "{metrics.JOB}"' in script
    for name in metrics.METRICS:
        assert name in script, name
    for quantile in metrics.LATENCY_QUANTILES:
        assert f'"{quantile}"' in script, quantile


def test_benchmark_pods_are_foreground_and_labelled(program_run):
    run = program_run("local-demo")
    (job,) = benchmark_jobs(run).values()
    spec = job["spec"]["template"]["spec"]
    assert spec["priorityClassName"] == FOREGROUND_PRIORITY
    assert spec["restartPolicy"] == "Never"
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "wrk"
    assert labels["app.kubernetes.io/component"] == "benchmark"


def test_more_threads_than_connections_is_refused():
    with pytest.raises(ValueError, match="threads"):
        BenchmarkArgs(namespace="demo", stack="s", provider="local", countly_api_url="http://x",
                      countly_app_key="k", pushgateway_url="http://p", prometheus_url="http://q",
                      duration_seconds=10, connections=2, threads=4)


def test_benchmark_pods_accept_no_connections(program_run):
    policies = demo_objects(program_run("local-demo"), "NetworkPolicy")
    policy = policies["wrk-ingress"]["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "wrk"
    assert policy["policyTypes"] == ["Ingress"] and policy["ingress"] == []
