"""The wrk benchmark against Countly's write API: a Job at `pulumi up`, and a suspended CronJob
that later runs (`cncfdemo benchmark`) are created from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.workloads.platform import (
    FOREGROUND_PRIORITY,
    container_security_context,
    ingress_policy,
    labels,
    pod_security_context,
    resources,
)

# wrk 4.2.0 from openEuler's maintained image. The image only needs wrk: the Lua hook pushes
# through LuaJIT's FFI, not curl (see files/benchmark/countly.lua).
IMAGE = "openeuler/wrk:4.2.0-oe2403sp1"
SCRIPT_PATH = Path(__file__).parent / "files" / "benchmark" / "countly.lua"
SCRIPT_MOUNT = "/etc/cncfdemo-benchmark"
APP_KEY_SECRET_KEY = "app-key"
SECRETS_MOUNT = "/var/run/secrets/cncfdemo/countly"
# wrk needs no privileges and writes nothing; any unprivileged user will do.
USER = 65534
# How long a run may take beyond its duration (image pull, connection set-up, the push).
DEADLINE_MARGIN_SECONDS = 600
# Jobs started from the CronJob clean themselves up; their results stay in Prometheus.
FINISHED_JOB_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class BenchmarkArgs:
    namespace: str
    stack: str
    """Grouping label `stack` of the pushed results."""
    provider: str
    """Grouping label `provider` of the pushed results."""
    countly_api_url: pulumi.Input[str]
    """In-cluster base URL of Countly's API, e.g. http://countly-api.demo.svc.cluster.local:3001."""
    countly_app_key: pulumi.Input[str]
    """App key the events are written with (secret); kept in a Secret, never a ConfigMap."""
    pushgateway_url: str
    """In-cluster URL of the Pushgateway (http://host:port)."""
    prometheus_url: str
    """In-cluster URL of Prometheus, where `cncfdemo benchmark` reads the results back."""
    duration_seconds: int
    connections: int
    threads: int
    run_on_up: bool = True
    """Run once at `pulumi up` (`benchmarkOnUp`)."""

    def __post_init__(self) -> None:
        if self.duration_seconds < 1:
            raise ValueError(f"duration_seconds must be positive, not {self.duration_seconds}")
        if not 1 <= self.threads <= self.connections:
            raise ValueError(f"threads ({self.threads}) must be between 1 and connections "
                             f"({self.connections})")


def wrk_args(args: BenchmarkArgs) -> list[str]:
    return [
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={args.duration_seconds}s",
        "--timeout=10s",
        "--latency",
        f"--script={SCRIPT_MOUNT}/{SCRIPT_PATH.name}",
        # expanded by the kubelet from the container's environment
        "$(COUNTLY_API_URL)",
    ]


class Benchmark(pulumi.ComponentResource):
    cron_job_name: pulumi.Output[str]
    job_name: pulumi.Output[str] | None
    run_id: pulumi.Output[str] | None
    outputs: pulumi.Output[dict]
    """What `cncfdemo benchmark` needs: namespace, cronJob, jobName, runId, pushgatewayUrl,
    prometheusUrl."""

    def __init__(self, name: str, args: BenchmarkArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:workloads:Benchmark", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = args.namespace
        script = SCRIPT_PATH.read_text()

        app_key = k8s.core.v1.Secret(
            f"{name}-countly-app-key",
            metadata={"name": "benchmark-countly", "namespace": namespace,
                      "labels": labels("wrk", "benchmark")},
            type="Opaque",
            string_data={APP_KEY_SECRET_KEY: pulumi.Output.secret(args.countly_app_key)},
            opts=child,
        )
        script_map = k8s.core.v1.ConfigMap(
            f"{name}-script",
            metadata={"name": "benchmark-script", "namespace": namespace,
                      "labels": labels("wrk", "benchmark")},
            data={SCRIPT_PATH.name: script},
            opts=child,
        )

        def job_spec(run_id_env: dict, ttl: int | None) -> dict:
            env = [
                {"name": "COUNTLY_API_URL", "value": args.countly_api_url},
                {"name": "COUNTLY_APP_KEY_FILE",
                 "value": f"{SECRETS_MOUNT}/{APP_KEY_SECRET_KEY}"},
                {"name": "PUSHGATEWAY_URL", "value": args.pushgateway_url},
                {"name": "BENCHMARK_STACK", "value": args.stack},
                {"name": "BENCHMARK_PROVIDER", "value": args.provider},
                {"name": "BENCHMARK_CONNECTIONS", "value": str(args.connections)},
                run_id_env,
            ]
            container = {
                "name": "wrk",
                "image": IMAGE,
                "command": ["wrk"],
                "args": wrk_args(args),
                "env": env,
                # a thread keeps about a quarter of a core busy against a remote API
                "resources": resources(f"{250 * args.threads}m", "64Mi", str(args.threads),
                                       "256Mi"),
                "securityContext": container_security_context(),
                "volumeMounts": [
                    {"name": "script", "mountPath": SCRIPT_MOUNT, "readOnly": True},
                    {"name": "countly", "mountPath": SECRETS_MOUNT, "readOnly": True},
                ],
            }
            spec = {
                # a retried run would push a second, different result under the same run id
                "backoffLimit": 0,
                "activeDeadlineSeconds": args.duration_seconds + DEADLINE_MARGIN_SECONDS,
                "template": {
                    "metadata": {"labels": labels("wrk", "benchmark")},
                    "spec": {
                        "restartPolicy": "Never",
                        "priorityClassName": FOREGROUND_PRIORITY,
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security_context(USER, fs_group=USER),
                        "containers": [container],
                        "volumes": [
                            {"name": "script",
                             "configMap": {"name": script_map.metadata.name}},
                            # readable by the pod's group (fsGroup), not by everyone
                            {"name": "countly", "secret": {
                                "secretName": app_key.metadata.name, "defaultMode": 0o440}},
                        ],
                    },
                },
            }
            if ttl is not None:
                spec["ttlSecondsAfterFinished"] = ttl
            return spec

        # wrk connects out (Countly, the Pushgateway) and serves nothing
        ingress_policy(name, "wrk", namespace, [], None, child)

        # Later runs: each Job created from this template is its own run, named after the Job
        # unless `cncfdemo benchmark` sets RUN_ID.
        cron_job = k8s.batch.v1.CronJob(
            f"{name}-template",
            metadata={"name": "benchmark", "namespace": namespace,
                      "labels": labels("wrk", "benchmark")},
            spec={
                "suspend": True,
                "schedule": "0 4 * * *",
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": labels("wrk", "benchmark")},
                    "spec": job_spec({"name": "RUN_ID", "valueFrom": {"fieldRef": {
                        "fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}}},
                        FINISHED_JOB_TTL_SECONDS),
                },
            },
            opts=child,
        )
        self.cron_job_name = cron_job.metadata.name

        self.job_name = None
        self.run_id = None
        if args.run_on_up:
            # A new run id, so a new Job, whenever what the run measures changes.
            run = random.RandomId(
                f"{name}-run",
                byte_length=4,
                keepers={
                    "stack": args.stack,
                    "duration": str(args.duration_seconds),
                    "connections": str(args.connections),
                    "threads": str(args.threads),
                    "image": IMAGE,
                    "script": hashlib.sha256(script.encode()).hexdigest(),
                },
                opts=child,
            )
            self.run_id = run.hex.apply(lambda hex_id: f"{args.stack}-{hex_id}")
            job = k8s.batch.v1.Job(
                f"{name}-on-up",
                metadata={
                    "name": run.hex.apply(lambda hex_id: f"benchmark-up-{hex_id}"),
                    "namespace": namespace,
                    "labels": labels("wrk", "benchmark"),
                    # `pulumi up` does not wait the run out, and a failed run does not fail
                    # the deployment: the result is read from Prometheus and Grafana.
                    "annotations": {"pulumi.com/skipAwait": "true"},
                },
                spec=job_spec({"name": "RUN_ID", "value": self.run_id}, None),
                opts=child,
            )
            self.job_name = job.metadata.name

        self.outputs = pulumi.Output.all(
            cron_job=self.cron_job_name,
            job=self.job_name,
            run_id=self.run_id,
        ).apply(lambda resolved: {
            "namespace": namespace,
            "cronJob": resolved["cron_job"],
            "jobName": resolved["job"],
            "runId": resolved["run_id"],
            "pushgatewayUrl": args.pushgateway_url,
            "prometheusUrl": args.prometheus_url,
        })
        self.register_outputs({"benchmark": self.outputs})
