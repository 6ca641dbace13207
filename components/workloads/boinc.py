"""BOINC: grid computing on the cluster's idle capacity, in the background priority class."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.workloads.platform import (
    BACKGROUND_PRIORITY,
    container_security_context,
    ingress_policy,
    labels,
    pod_security_context,
    resources,
)

DATA_DIR = "/var/lib/boinc"
# The image runs BOINC as root; it runs as any user that owns the data directory.
USER = 1000
# One task at a time, matching the CPU limit; BOINC would otherwise start one per host CPU.
CC_CONFIG = "<cc_config><options><ncpus>1</ncpus></options></cc_config>"
# BOINC serves only its local GUI RPC: ask the client itself whether it answers (boinccmd
# reads the RPC password from the working directory).
CLIENT_ANSWERS = ["boinccmd", "--get_cc_status"]


def pinned_by_digest(image: str) -> bool:
    return "@sha256:" in image


@dataclass(frozen=True)
class BoincArgs:
    namespace: str
    project_url: str
    """The BOINC project to attach to (`boincProjectUrl`)."""
    account_key: pulumi.Input[str]
    """Account key of that project (`boincAccountKey`, secret)."""
    image: str
    """The client image (`boincImage`); the official one publishes moving tags only
    (`boinc/client:base-ubuntu`), so a deployment you keep pins a digest."""

    def __post_init__(self) -> None:
        if not re.match(r"^https?://\S+$", self.project_url):
            raise ValueError(f"project_url {self.project_url!r} is not an http(s) URL")


class Boinc(pulumi.ComponentResource):
    def __init__(self, name: str, args: BoincArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:workloads:Boinc", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        app = "boinc"
        pinned = pinned_by_digest(args.image)
        if not pinned:
            pulumi.log.warn(
                f"BOINC runs {args.image}, a moving tag, not a digest (the official "
                "boinc/client image publishes moving tags only): nodes may run different "
                "client builds. Pin the build you tested with `pulumi config set "
                "cncfdemo:boincImage boinc/client@sha256:<digest>`.", resource=self)

        # The image's default GUI RPC password is public ("123"): replace it.
        rpc_password = random.RandomPassword(f"{name}-gui-rpc", length=24, special=False,
                                             opts=child)
        options = pulumi.Output.secret(pulumi.Output.from_input(args.account_key).apply(
            lambda key: f"--attach_project {args.project_url} {key}"))
        secret = k8s.core.v1.Secret(
            f"{name}-account",
            metadata={"name": "boinc-account", "namespace": args.namespace,
                      "labels": labels(app, "background")},
            type="Opaque",
            string_data={"cmd-line-options": options,
                         "gui-rpc-password": pulumi.Output.secret(rpc_password.result)},
            opts=child,
        )

        def from_secret(variable: str, key: str) -> dict:
            return {"name": variable, "valueFrom": {"secretKeyRef": {
                "name": secret.metadata.name, "key": key}}}

        container = {
            "name": app,
            "image": args.image,
            # A moving tag is pulled again at every start, so no node keeps a stale build.
            "imagePullPolicy": "IfNotPresent" if pinned else "Always",
            "workingDir": DATA_DIR,
            "env": [
                from_secret("BOINC_CMD_LINE_OPTIONS", "cmd-line-options"),
                from_secret("BOINC_GUI_RPC_PASSWORD", "gui-rpc-password"),
                {"name": "BOINC_REMOTE_HOST", "value": "127.0.0.1"},
                {"name": "CC_CONFIG", "value": CC_CONFIG},
            ],
            "readinessProbe": {
                "exec": {"command": CLIENT_ANSWERS},
                "initialDelaySeconds": 10,
                "periodSeconds": 30,
                "timeoutSeconds": 10,
            },
            "livenessProbe": {
                "exec": {"command": CLIENT_ANSWERS},
                "initialDelaySeconds": 60,
                "periodSeconds": 60,
                "timeoutSeconds": 10,
                "failureThreshold": 3,
            },
            # Small requests: the scheduler places it anywhere; it uses what is idle.
            "resources": resources("50m", "256Mi", "1", "1536Mi"),
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": "data", "mountPath": DATA_DIR},
                             {"name": "tmp", "mountPath": "/tmp"}],
        }
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-client",
            metadata={"name": app, "namespace": args.namespace,
                      "labels": labels(app, "background")},
            spec={
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": {"app.kubernetes.io/name": app,
                                             "app.kubernetes.io/part-of": "cncfdemo"}},
                "template": {"metadata": {"labels": labels(app, "background")}, "spec": {
                    "priorityClassName": BACKGROUND_PRIORITY,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(USER, fs_group=USER),
                    "containers": [container],
                    "volumes": [
                        # Work in progress is lost with the pod; the project reissues it.
                        {"name": "data", "emptyDir": {"sizeLimit": "4Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                }},
            },
            opts=child,
        )
        # Nothing connects in (the GUI RPC answers on loopback only); out, the client must
        # reach its project's servers wherever they are, so egress stays open.
        self.network_policy = ingress_policy(name, app, args.namespace, [], None, child)
        self.register_outputs({})


def deploy_boinc(name: str, namespace: str, project_url: str,
                 account_key: pulumi.Input[str] | None, image: str,
                 opts: pulumi.ResourceOptions) -> Boinc | None:
    """BOINC when an account key is configured; otherwise a warning saying why it is absent."""
    if account_key is None:
        pulumi.log.warn(
            "BOINC is not deployed: cncfdemo:boincAccountKey is not set, and a client without "
            f"an account key cannot attach to {project_url}. Set it with `pulumi config set "
            "--secret cncfdemo:boincAccountKey <key>` (the key is on your account page of the "
            "project; World Community Grid is run by the Krembil Research Institute).")
        return None
    return Boinc(name, BoincArgs(namespace=namespace, project_url=project_url,
                                 account_key=account_key, image=image), opts=opts)
