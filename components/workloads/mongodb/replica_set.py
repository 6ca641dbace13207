"""One MongoDB replica set: headless Service, StatefulSet with volumes, disruption budget, and
the one-shot Job that initiates it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from components.workloads.mongodb import pods

_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,40}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[1-9]\d*(Mi|Gi|Ti)$")


@dataclass(frozen=True)
class ReplicaSetArgs:
    """A replica set of `members` mongod processes.

    k8s_name: name of the StatefulSet, its headless Service and its pods' prefix.
    set_name: the replica set's own name (`--replSet`); also the shard's name in the cluster.
    role: `configsvr` for the config servers, `shardsvr` for a shard.
    """

    namespace: str
    k8s_name: str
    set_name: str
    role: Literal["configsvr", "shardsvr"]
    members: int
    storage_class: str
    volume_size: str
    priority_class: str
    keyfile_secret: str
    scripts_config_map: str
    resources: dict
    cluster_domain: str = "cluster.local"
    wait_seconds: int = 900

    def __post_init__(self) -> None:
        for field in ("k8s_name", "set_name"):
            if not _DNS_LABEL.match(getattr(self, field)):
                raise ValueError(f"ReplicaSetArgs.{field} {getattr(self, field)!r} is not a DNS "
                                 "label")
        if self.role not in ("configsvr", "shardsvr"):
            raise ValueError(f"ReplicaSetArgs.role must be configsvr or shardsvr, "
                             f"not {self.role!r}")
        if not 1 <= self.members <= 7:
            raise ValueError(f"ReplicaSetArgs.members must be 1 to 7 (voting members), "
                             f"not {self.members}")
        if not _QUANTITY.match(self.volume_size):
            raise ValueError(f"ReplicaSetArgs.volume_size {self.volume_size!r} is not a size like "
                             "10Gi")

    @property
    def hosts(self) -> list[str]:
        """Every member's stable address, through the headless Service."""
        domain = f"{self.k8s_name}.{self.namespace}.svc.{self.cluster_domain}"
        return [f"{self.k8s_name}-{index}.{domain}:{pods.PORT}" for index in range(self.members)]

    @property
    def seed(self) -> str:
        """The `set/host,host` form mongos and addShard take."""
        return f"{self.set_name}/{','.join(self.hosts)}"


def depends_on_list(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    value = opts.depends_on if opts is not None else None
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class ReplicaSet(pulumi.ComponentResource):
    """mongod members with persistent volumes, initiated by a Job that waits for all of them."""

    args: ReplicaSetArgs
    init_job: k8s.batch.v1.Job

    def __init__(self, name: str, args: ReplicaSetArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:workloads:MongoReplicaSet", name, None, opts)
        self.args = args
        # What the component waits for (namespace, key file, scripts), its children wait for too.
        self._after = depends_on_list(opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=self._after)
        labels = pods.labels("mongod", args.k8s_name)
        match = pods.selector("mongod", args.k8s_name)

        # Members find each other before they are ready (the set is initiated after they start).
        self.service = k8s.core.v1.Service(
            f"{name}-headless",
            metadata={"name": args.k8s_name, "namespace": args.namespace, "labels": labels},
            spec={
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": match,
                "ports": [{"name": "mongodb", "port": pods.PORT, "targetPort": "mongodb",
                           "protocol": "TCP"}],
            },
            opts=child,
        )

        self.stateful_set = k8s.apps.v1.StatefulSet(
            f"{name}-members",
            metadata={"name": args.k8s_name, "namespace": args.namespace, "labels": labels},
            spec={
                "serviceName": args.k8s_name,
                "replicas": args.members,
                # All members start together: the init Job needs every one of them up.
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": match},
                # `pulumi destroy` removes the data with the set; scaling down keeps it.
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete",
                                                         "whenScaled": "Retain"},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": pods.pod_spec(
                        [self._mongod()],
                        [*pods.keyfile_volumes(args.keyfile_secret), pods.tmp_volume()],
                        args.priority_class,
                        init_containers=[pods.keyfile_init_container()],
                        affinity=pods.spread(match),
                        terminationGracePeriodSeconds=60,
                    ),
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data", "labels": labels},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": args.storage_class,
                        "resources": {"requests": {"storage": args.volume_size}},
                    },
                }],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._after, self.service]),
        )

        self.disruption_budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata={"name": args.k8s_name, "namespace": args.namespace, "labels": labels},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": match}},
            opts=child,
        )

        self.init_job = self._init_job(name)
        self.register_outputs({})

    def _mongod(self) -> dict:
        args = self.args
        return {
            "name": "mongod",
            "image": pods.MONGO_IMAGE,
            "command": [
                "mongod", f"--{args.role}",
                "--replSet", args.set_name,
                "--port", str(pods.PORT),
                "--bind_ip_all",
                "--dbpath", "/data/db",
                "--keyFile", pods.KEYFILE,
                # The cache defaults to half the node's memory, not the container's limit.
                "--wiredTigerCacheSizeGB", "0.25",
            ],
            "ports": [{"name": "mongodb", "containerPort": pods.PORT, "protocol": "TCP"}],
            "resources": args.resources,
            "securityContext": pods.container_security(),
            # TCP probes: a mongosh probe would start a Node.js runtime every few seconds.
            "startupProbe": {"tcpSocket": {"port": "mongodb"}, "periodSeconds": 5,
                             "failureThreshold": 60},
            "readinessProbe": {"tcpSocket": {"port": "mongodb"}, "periodSeconds": 10},
            "livenessProbe": {"tcpSocket": {"port": "mongodb"}, "periodSeconds": 20,
                              "failureThreshold": 6},
            "volumeMounts": [
                {"name": "data", "mountPath": "/data/db"},
                {"name": "keyfile", "mountPath": pods.KEYFILE_DIR, "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        }

    def _init_job(self, name: str) -> k8s.batch.v1.Job:
        args = self.args
        job_name = f"{args.k8s_name}-init"
        labels = pods.labels("init", job_name)
        return k8s.batch.v1.Job(
            f"{name}-init",
            metadata={"name": job_name, "namespace": args.namespace, "labels": labels},
            spec=pods.init_job_spec(
                labels=labels,
                container="initiate",
                script="replicaset-init.js",
                env={
                    "RS_NAME": args.set_name,
                    "RS_HOSTS": ",".join(args.hosts),
                    "RS_CONFIGSVR": json.dumps(args.role == "configsvr"),
                },
                scripts_config_map=args.scripts_config_map,
                keyfile_secret=args.keyfile_secret,
                priority_class=args.priority_class,
                wait_seconds=args.wait_seconds,
            ),
            # A Job's template cannot change: a new one replaces it under the same name.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._after, self.stateful_set],
                                        delete_before_replace=True),
        )
