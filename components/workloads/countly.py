"""Countly: the API (autoscaled) and the dashboard apart, one public gateway in front of both,
and the application the benchmark writes to, provisioned under a generated key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.workloads.exposure import service_spec, service_url
from components.workloads.mongodb import MongoDB, ShardedCollection, pods
from components.workloads.mongodb.replica_set import depends_on_list
from components.workloads.platform import FOREGROUND_PRIORITY, Namespaces
from stacks.cluster import Exposure

# The official images, pinned to one release (the Docker Hub tags follow the git tags).
COUNTLY_VERSION = "25.03.55"
API_IMAGE = f"countly/api:{COUNTLY_VERSION}"
FRONTEND_IMAGE = f"countly/frontend:{COUNTLY_VERSION}"
GATEWAY_IMAGE = "nginx:1.30.4-alpine"

# Both Countly images run as USER 1001:0 and own /opt/countly as that user; nginx's is 101.
COUNTLY_UID = 1001
COUNTLY_GID = 0
NGINX_UID = 101

API_PORT = 3001
FRONTEND_PORT = 6001
GATEWAY_PORT = 8080
PUBLIC_PORT = 80

# What Countly keeps in MongoDB: its databases, and the collection the benchmark's events grow.
MONGODB_USER = "countly"
DATABASES = ("countly", "countly_drill", "countly_out", "countly_fs")
SHARDED_DATABASES = ("countly",)
SHARDED_COLLECTIONS = (ShardedCollection("countly.events_data", (("_id", "hashed"),)),)

# The community edition's plugins, as the images are built with them.
PLUGINS = ",".join((
    "mobile", "web", "desktop", "plugins", "density", "locale", "browser", "sources", "views",
    "logger", "systemlogs", "populator", "reports", "crashes", "push", "star-rating",
    "slipping-away-users", "compare", "server-stats", "dbviewer", "times-of-day",
    "compliance-hub", "alerts", "onboarding", "consolidate", "remote-config", "hooks",
    "dashboards", "sdk", "data-manager", "guides",
))

GATEWAY_TEMPLATE = Path(__file__).resolve().parent / "files" / "countly" / "nginx.conf.j2"

APP_KEY_LENGTH = 40


def gateway_config(api_upstream: str, frontend_upstream: str, port: int = GATEWAY_PORT) -> str:
    """The gateway's nginx.conf; an unknown template variable is an error."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     autoescape=False)
    template = environment.from_string(GATEWAY_TEMPLATE.read_text())
    return template.render(api_upstream=api_upstream, frontend_upstream=frontend_upstream,
                           port=port)


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "countly", "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "cncfdemo"}


def _selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "countly", "app.kubernetes.io/component": component}


@dataclass(frozen=True)
class CountlyArgs:
    """Countly against `mongodb`'s routers, published the way `exposure` says.

    mongodb: the cluster; it must have a client user named MONGODB_USER and share the namespace.
    min_replicas / max_replicas: bounds of the API's autoscaler (CPU utilisation `cpu_target` %).
    """

    namespace: str
    exposure: Exposure
    mongodb: MongoDB
    min_replicas: int = 2
    max_replicas: int = 6
    cpu_target: int = 70
    gateway_replicas: int = 2
    app_name: str = "cncfdemo benchmark"
    priority_class: str = FOREGROUND_PRIORITY
    plugins: str = PLUGINS

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"CountlyArgs: replicas must satisfy 1 <= min ({self.min_replicas}) "
                             f"<= max ({self.max_replicas}) (cncfdemo:countlyMinReplicas, "
                             "cncfdemo:countlyMaxReplicas)")
        if not 10 <= self.cpu_target <= 100:
            raise ValueError(f"CountlyArgs.cpu_target must be 10 to 100 %, not {self.cpu_target}")
        if MONGODB_USER not in self.mongodb.client_secrets:
            raise ValueError(f"CountlyArgs.mongodb has no client user {MONGODB_USER!r}; add "
                             "ClientUser(MONGODB_USER, DATABASES) to its args")
        if self.mongodb.args.namespace != self.namespace:
            raise ValueError(f"CountlyArgs.namespace {self.namespace!r} differs from MongoDB's "
                             f"{self.mongodb.args.namespace!r}; Countly mounts its Secret and "
                             "scripts")


class Countly(pulumi.ComponentResource):
    """`url` is the public address (dashboard and API); the benchmark writes to
    `api_service_url` with `app_key` once `ready` is done."""

    url: pulumi.Output[str]
    api_service_url: pulumi.Output[str]
    app_key: pulumi.Output[str]
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: CountlyArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:workloads:Countly", name, None, opts)
        self.args = args
        after = depends_on_list(opts)
        mongodb_ready = [*after, *args.mongodb.ready]
        child = pulumi.ResourceOptions(parent=self, depends_on=after)
        self._mongodb_secret = args.mongodb.client_secrets[MONGODB_USER]

        # the application's key: generated, kept as a secret, handed to the benchmark
        app_key = random.RandomPassword(f"{name}-app-key", length=APP_KEY_LENGTH, special=False,
                                        upper=False, opts=pulumi.ResourceOptions(parent=self))
        self.app_key = pulumi.Output.secret(app_key.result)
        self.app_secret = k8s.core.v1.Secret(
            f"{name}-app",
            metadata={"name": "countly-app", "namespace": args.namespace,
                      "labels": _labels("credentials")},
            type="Opaque",
            string_data={"app_key": self.app_key},
            opts=child,
        )
        self.app_job = self._app_job(name, pulumi.ResourceOptions(
            parent=self, depends_on=[*mongodb_ready, self.app_secret],
            delete_before_replace=True))

        # Countly starts by installing its plugins into the database: it waits for mongos.
        slow_start = pulumi.CustomTimeouts(create="20m", update="20m")
        self.api_service = self._service(name, "api", API_PORT, child)
        self.api = self._deployment(
            name, "api", self._api_container(), None,
            pulumi.ResourceOptions(parent=self, depends_on=mongodb_ready,
                                   custom_timeouts=slow_start))
        self.autoscaler = k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-api",
            metadata={"name": "countly-api", "namespace": args.namespace,
                      "labels": _labels("api")},
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": "countly-api"},
                "minReplicas": args.min_replicas,
                "maxReplicas": args.max_replicas,
                "metrics": [{"type": "Resource", "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": args.cpu_target},
                }}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, self.api]),
        )
        self._disruption_budget(name, "api", child)

        self.frontend_service = self._service(name, "frontend", FRONTEND_PORT, child)
        self.frontend = self._deployment(
            name, "frontend", self._frontend_container(), 1,
            pulumi.ResourceOptions(parent=self, depends_on=mongodb_ready,
                                   custom_timeouts=slow_start))

        # the public address: dashboard and API behind one gateway
        nginx_conf = gateway_config(f"countly-api:{API_PORT}", f"countly-frontend:{FRONTEND_PORT}")
        self.gateway_config = k8s.core.v1.ConfigMap(
            f"{name}-gateway",
            metadata={"name": "countly-gateway", "namespace": args.namespace,
                      "labels": _labels("gateway")},
            data={"nginx.conf": nginx_conf},
            opts=child,
        )
        self.gateway = self._gateway(name, nginx_conf, pulumi.ResourceOptions(
            parent=self, depends_on=[*after, self.gateway_config, self.api_service,
                                     self.frontend_service]))
        self._disruption_budget(name, "gateway", child)
        self.public_service = k8s.core.v1.Service(
            f"{name}-public",
            metadata={"name": "countly", "namespace": args.namespace,
                      "labels": _labels("gateway")},
            spec=service_spec(args.exposure, "countly", PUBLIC_PORT, "http",
                              _selector("gateway"), public=True),
            opts=child,
        )

        self.network_policies = self._network_policies(name, child)

        self.url = service_url(args.exposure, "countly", self.public_service, PUBLIC_PORT,
                               public=True)
        domain = args.mongodb.args.cluster_domain
        self.api_service_url = pulumi.Output.concat(
            "http://", self.api_service.metadata.name, ".", self.api_service.metadata.namespace,
            f".svc.{domain}:{API_PORT}")
        self.ready = [self.app_job, self.api, self.api_service]
        self.register_outputs({"url": self.url, "apiServiceUrl": self.api_service_url})

    # containers

    def _countly_env(self, node_heap_mb: int) -> list[dict]:
        return [
            {"name": "COUNTLY_PLUGINS", "value": self.args.plugins},
            # Countly reads its database URI (with the password) from the environment only.
            {"name": "COUNTLY_CONFIG__MONGODB", "valueFrom": {"secretKeyRef": {
                "name": self._mongodb_secret, "key": "uri"}}},
            {"name": "COUNTLY_CONFIG__FILESTORAGE", "value": "gridfs"},
            {"name": "NODE_OPTIONS", "value": f"--max-old-space-size={node_heap_mb}"},
        ]

    def _api_container(self) -> dict:
        return {
            "name": "api",
            "image": API_IMAGE,
            "ports": [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}],
            # One worker per pod: Countly would fork one per node core, whatever the limit;
            # the autoscaler adds pods instead.
            "env": [*self._countly_env(1024),
                    {"name": "COUNTLY_CONFIG_API_API_WORKERS", "value": "1"}],
            "resources": pods.resources("250m", "512Mi", "1", "1536Mi"),
            # Countly writes its plugin list and build output into /opt/countly at start.
            "securityContext": pods.container_security(read_only_root=False),
            **_probes("/o/ping"),
        }

    def _frontend_container(self) -> dict:
        return {
            "name": "frontend",
            "image": FRONTEND_IMAGE,
            "ports": [{"name": "http", "containerPort": FRONTEND_PORT, "protocol": "TCP"}],
            "env": self._countly_env(768),
            "resources": pods.resources("100m", "384Mi", "500m", "1Gi"),
            "securityContext": pods.container_security(read_only_root=False),
            **_probes("/ping"),
        }

    # objects

    def _deployment(self, name: str, component: str, container: dict, replicas: int | None,
                    opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
        args = self.args
        wait, wait_volumes = args.mongodb.wait_for_mongos()
        labels = {**_labels(component), pods.CLIENT_LABEL: MONGODB_USER}
        spec: dict = {
            "selector": {"matchLabels": _selector(component)},
            "template": {
                "metadata": {"labels": labels},
                "spec": pods.pod_spec(
                    [container], wait_volumes, args.priority_class,
                    init_containers=[wait], uid=COUNTLY_UID, gid=COUNTLY_GID, fs_group=False,
                    affinity=pods.spread(_selector(component)),
                ),
            },
        }
        # The API's replica count belongs to its autoscaler, so the program never sets it.
        if replicas is not None:
            spec["replicas"] = replicas
        return k8s.apps.v1.Deployment(
            f"{name}-{component}",
            metadata={"name": f"countly-{component}", "namespace": args.namespace,
                      "labels": _labels(component)},
            spec=spec,
            opts=opts,
        )

    def _service(self, name: str, component: str, port: int,
                 opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{name}-{component}",
            metadata={"name": f"countly-{component}", "namespace": self.args.namespace,
                      "labels": _labels(component)},
            spec=service_spec(self.args.exposure, "countly", port, "http",
                              _selector(component), public=False),
            opts=opts,
        )

    def _disruption_budget(self, name: str, component: str,
                           opts: pulumi.ResourceOptions) -> k8s.policy.v1.PodDisruptionBudget:
        return k8s.policy.v1.PodDisruptionBudget(
            f"{name}-{component}-pdb",
            metadata={"name": f"countly-{component}", "namespace": self.args.namespace,
                      "labels": _labels(component)},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": _selector(component)}},
            opts=opts,
        )

    def _gateway(self, name: str, nginx_conf: str,
                 opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
        args = self.args
        container = {
            "name": "nginx",
            "image": GATEWAY_IMAGE,
            # The image's entrypoint scripts edit its default config; this config is complete.
            "command": ["nginx", "-e", "stderr", "-c", "/etc/nginx/cncfdemo/nginx.conf",
                        "-g", "daemon off;"],
            "ports": [{"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"}],
            "resources": pods.resources("20m", "32Mi", "200m", "128Mi"),
            "securityContext": pods.container_security(),
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                               "periodSeconds": 10},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                              "periodSeconds": 20},
            "volumeMounts": [
                {"name": "config", "mountPath": "/etc/nginx/cncfdemo", "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        }
        return k8s.apps.v1.Deployment(
            f"{name}-gateway",
            metadata={"name": "countly-gateway", "namespace": args.namespace,
                      "labels": _labels("gateway")},
            spec={
                "replicas": args.gateway_replicas,
                "selector": {"matchLabels": _selector("gateway")},
                "template": {
                    "metadata": {
                        "labels": _labels("gateway"),
                        # a changed configuration rolls the gateway
                        "annotations": {"cncfdemo.io/config-sha256":
                                        hashlib.sha256(nginx_conf.encode()).hexdigest()},
                    },
                    "spec": pods.pod_spec(
                        [container],
                        [{"name": "config", "configMap": {"name": "countly-gateway"}},
                         pods.tmp_volume()],
                        args.priority_class, uid=NGINX_UID, fs_group=False,
                        affinity=pods.spread(_selector("gateway")),
                    ),
                },
            },
            opts=opts,
        )

    def _network_policies(self, name: str, opts: pulumi.ResourceOptions
                          ) -> list[k8s.networking.v1.NetworkPolicy]:
        """The gateway is public; the API takes the gateway, the demo namespace's other pods
        (the benchmark) and the monitoring namespace (its probes); the dashboard takes only the
        gateway; the provisioning Job takes nothing."""
        namespaces = Namespaces()
        gateway = {"podSelector": {"matchLabels": _selector("gateway")}}
        same_namespace = {"podSelector": {}}
        monitoring = {"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": namespaces.monitoring}}}
        rules = {
            "gateway": [{"ports": [{"protocol": "TCP", "port": GATEWAY_PORT}]}],
            "api": [{"from": [same_namespace, monitoring],
                     "ports": [{"protocol": "TCP", "port": API_PORT}]}],
            "frontend": [{"from": [gateway],
                          "ports": [{"protocol": "TCP", "port": FRONTEND_PORT}]}],
            "app-init": [],
        }
        return [
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{component}-ingress",
                metadata={"name": f"countly-{component}-ingress",
                          "namespace": self.args.namespace, "labels": _labels(component)},
                spec={"podSelector": {"matchLabels": _selector(component)},
                      "policyTypes": ["Ingress"], "ingress": ingress},
                opts=opts,
            )
            for component, ingress in rules.items()
        ]

    def _app_job(self, name: str, opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
        args = self.args
        labels = {**_labels("app-init"), pods.CLIENT_LABEL: MONGODB_USER}
        container = pods.mongosh_container(
            "provision-app", "countly-app.js",
            {
                "MONGODB_URI_FILE": f"{pods.SECRETS_DIR}/{self._mongodb_secret}/uri",
                "APP_KEY_FILE": f"{pods.SECRETS_DIR}/countly-app/app_key",
                "APP_NAME": args.app_name,
                "DATABASE": DATABASES[0],
                "WAIT_SECONDS": str(args.mongodb.args.wait_seconds),
            },
            mounts=(
                {"name": "mongodb-user", "mountPath": f"{pods.SECRETS_DIR}/{self._mongodb_secret}",
                 "readOnly": True},
                {"name": "app", "mountPath": f"{pods.SECRETS_DIR}/countly-app", "readOnly": True},
            ),
        )
        return k8s.batch.v1.Job(
            f"{name}-app-init",
            metadata={"name": "countly-app-init", "namespace": args.namespace,
                      "labels": _labels("app-init")},
            spec={
                "backoffLimit": 4,
                "activeDeadlineSeconds": 2 * args.mongodb.args.wait_seconds,
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {
                            pods.SCRIPTS_HASH_ANNOTATION: pods.scripts_hash("countly-app.js"),
                        },
                    },
                    "spec": pods.pod_spec(
                        [container],
                        [pods.scripts_volume(args.mongodb.scripts_config_map),
                         pods.secret_volume("mongodb-user", self._mongodb_secret),
                         pods.secret_volume("app", "countly-app"),
                         pods.tmp_volume()],
                        args.priority_class,
                        restartPolicy="Never",
                    ),
                },
            },
            opts=opts,
        )


def _probes(ready_path: str) -> dict:
    """Ready when Countly answers from its database; alive while the process serves at all, so
    a database outage makes pods unready instead of restarting them."""
    return {
        "startupProbe": {"httpGet": {"path": ready_path, "port": "http"}, "periodSeconds": 10,
                         "timeoutSeconds": 5, "failureThreshold": 60},
        "readinessProbe": {"httpGet": {"path": ready_path, "port": "http"},
                           "periodSeconds": 10, "timeoutSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 20,
                          "failureThreshold": 6},
    }

