"""The sharded MongoDB cluster: config servers, shards, mongos, users, and the Jobs that join
them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.workloads.mongodb import pods
from components.workloads.mongodb.network import network_policies
from components.workloads.mongodb.replica_set import ReplicaSet, ReplicaSetArgs, depends_on_list
from components.workloads.platform import FOREGROUND_PRIORITY

MAX_SHARDS = 16
MAX_MEMBERS = 7

# Requests fit a laptop's kind cluster; limits leave room for a benchmark's burst.
SHARD_RESOURCES = pods.resources("100m", "384Mi", "1", "1Gi")
CONFIG_RESOURCES = pods.resources("50m", "256Mi", "500m", "768Mi")
MONGOS_RESOURCES = pods.resources("50m", "128Mi", "500m", "512Mi")

ADMIN_USER = "admin"
USER_ANNOTATION = "mongodb.cncfdemo.io/user"
# A key file holds 6 to 1024 base64 characters; letters and digits are a subset.
KEYFILE_LENGTH = 756

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")


@dataclass(frozen=True)
class ClientUser:
    """A MongoDB user for one application, with readWrite and dbAdmin on its databases.

    Its password and URI land in the Secret `mongo-user-<name>`; pods labelled
    `mongodb.cncfdemo.io/client: <name>` may reach mongos.
    """

    name: str
    databases: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name == ADMIN_USER:
            raise ValueError(f"ClientUser.name {self.name!r} must be a short lower-case name "
                             f"other than {ADMIN_USER!r}")
        if not self.databases:
            raise ValueError(f"ClientUser {self.name!r} needs at least one database")

    @property
    def secret_name(self) -> str:
        return f"mongo-user-{self.name}"

    @property
    def roles(self) -> list[dict[str, str]]:
        # clusterMonitor lets the application read server statistics, nothing more.
        return [*({"role": role, "db": db} for db in self.databases
                  for role in ("readWrite", "dbAdmin")),
                {"role": "clusterMonitor", "db": "admin"}]


@dataclass(frozen=True)
class ShardedCollection:
    """A collection sharded at creation. `key` is the shard key, in order: (("_id", "hashed"),)."""

    namespace: str
    key: tuple[tuple[str, int | str], ...]

    def __post_init__(self) -> None:
        if "." not in self.namespace or not self.key:
            raise ValueError(f"ShardedCollection {self.namespace!r} needs a 'database.collection' "
                             "name and a key")


@dataclass(frozen=True)
class MongoDBArgs:
    """A sharded cluster: one config-server replica set and `shards` shard replica sets of
    `members` members each, behind `mongos_replicas` routers.

    storage_class: the cluster's StorageClass for the members' volumes.
    clients: users created for applications (see ClientUser).
    sharded_databases / sharded_collections: sharding set up by the cluster-init Job.
    """

    namespace: str
    storage_class: str
    shards: int = 2
    members: int = 3
    mongos_replicas: int = 2
    shard_volume_size: str = "10Gi"
    config_volume_size: str = "2Gi"
    priority_class: str = FOREGROUND_PRIORITY
    clients: tuple[ClientUser, ...] = ()
    sharded_databases: tuple[str, ...] = ()
    sharded_collections: tuple[ShardedCollection, ...] = ()
    cluster_domain: str = "cluster.local"
    wait_seconds: int = 900

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ValueError(f"MongoDBArgs.shards must be 1 to {MAX_SHARDS}, not {self.shards} "
                             "(cncfdemo:mongoShards)")
        if not 1 <= self.members <= MAX_MEMBERS:
            raise ValueError(f"MongoDBArgs.members must be 1 to {MAX_MEMBERS}, not "
                             f"{self.members} (cncfdemo:mongoMembers)")
        if not 1 <= self.mongos_replicas <= 10:
            raise ValueError(f"MongoDBArgs.mongos_replicas must be 1 to 10, not "
                             f"{self.mongos_replicas}")
        names = [client.name for client in self.clients]
        if len(set(names)) != len(names):
            raise ValueError(f"MongoDBArgs.clients names a user twice: {names}")
        if not self.storage_class:
            raise ValueError("MongoDBArgs.storage_class is empty; the members need volumes")


class MongoDB(pulumi.ComponentResource):
    """The sharded cluster and its secrets; `ready` is done once users and shards exist."""

    host: str
    address: str
    admin_password: pulumi.Output[str]
    client_secrets: dict[str, str]
    scripts_config_map: str
    config_servers: ReplicaSet
    shards: list[ReplicaSet]
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: MongoDBArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:workloads:MongoDB", name, None, opts)
        self.args = args
        after = depends_on_list(opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=after)
        self.host = f"mongos.{args.namespace}.svc.{args.cluster_domain}"
        self.address = f"{self.host}:{pods.PORT}"
        self.scripts_config_map = "mongo-scripts"

        # secrets: internal authentication, the administrator, one user per application
        keyfile = random.RandomPassword(f"{name}-keyfile", length=KEYFILE_LENGTH, special=False,
                                        opts=pulumi.ResourceOptions(parent=self))
        self.keyfile_secret = self._secret(name, "keyfile", "mongo-keyfile", None,
                                           {"keyfile": keyfile.result}, child)
        admin_password = random.RandomPassword(f"{name}-admin-password", length=32,
                                               special=False,
                                               opts=pulumi.ResourceOptions(parent=self))
        self.admin_password = pulumi.Output.secret(admin_password.result)
        self.admin_secret = self._secret(name, "admin", "mongo-admin", ADMIN_USER,
                                         {"password": admin_password.result}, child)
        self.client_secrets = {}
        user_secrets = []
        for client in args.clients:
            password = random.RandomPassword(f"{name}-{client.name}-password", length=32,
                                             special=False,
                                             opts=pulumi.ResourceOptions(parent=self))
            uri = pulumi.Output.concat(
                "mongodb://", client.name, ":", password.result, "@", self.address, "/",
                client.databases[0], "?authSource=admin")
            user_secrets.append(self._secret(
                name, f"user-{client.name}", client.secret_name, client.name,
                {"password": password.result, "uri": uri}, child))
            self.client_secrets[client.name] = client.secret_name

        self.scripts = k8s.core.v1.ConfigMap(
            f"{name}-scripts",
            metadata={"name": self.scripts_config_map, "namespace": args.namespace,
                      "labels": pods.labels("scripts", "mongo-scripts")},
            data=pods.scripts(),
            opts=child,
        )

        # replica sets: the config servers, then the shards
        members_ready = pulumi.ResourceOptions(
            parent=self, depends_on=[*after, self.keyfile_secret, self.scripts])
        self.config_servers = ReplicaSet(f"{name}-cfg", self._replica_set(
            "mongo-cfg", "cfg", "configsvr", args.config_volume_size, CONFIG_RESOURCES),
            opts=members_ready)
        self.shards = [
            ReplicaSet(f"{name}-shard{index}", self._replica_set(
                f"mongo-shard{index}", f"shard{index}", "shardsvr", args.shard_volume_size,
                SHARD_RESOURCES), opts=members_ready)
            for index in range(args.shards)
        ]

        # routers: started once the config servers form a set
        self.mongos, self.mongos_service = self._mongos(name, pulumi.ResourceOptions(
            parent=self, depends_on=[*after, self.keyfile_secret,
                                     self.config_servers.init_job]))

        self.cluster_init = self._cluster_init_job(name, pulumi.ResourceOptions(
            parent=self,
            depends_on=[*after, self.scripts, self.admin_secret, *user_secrets,
                        self.mongos, self.mongos_service,
                        *(shard.init_job for shard in self.shards)],
            delete_before_replace=True))

        self.network_policies = network_policies(
            name, args.namespace, tuple(client.name for client in args.clients), child)

        self.ready = [self.cluster_init]
        self.register_outputs({"address": self.address})

    def wait_for_mongos(self) -> tuple[dict, list[dict]]:
        """An init container that holds a client's pod until mongos answers, and its volumes.

        It runs as the mongo image's user whatever the pod's user is.
        """
        container = pods.mongosh_container("wait-for-mongos", "wait-for-mongos.js", {
            "MONGOS_HOST": self.address,
            "WAIT_SECONDS": str(self.args.wait_seconds),
        })
        container["securityContext"] = {**container["securityContext"],
                                        "runAsUser": pods.MONGO_UID,
                                        "runAsGroup": pods.MONGO_UID}
        return container, [pods.scripts_volume(self.scripts_config_map), pods.tmp_volume()]

    def _secret(self, name: str, suffix: str, k8s_name: str, user: str | None,
                data: dict[str, pulumi.Output[str]],
                opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        # The user name is an annotation, not data: everything in a Secret's data is masked
        # wherever it appears, and a user name is not secret.
        annotations = {USER_ANNOTATION: user} if user else {}
        return k8s.core.v1.Secret(
            f"{name}-{suffix}",
            metadata={"name": k8s_name, "namespace": self.args.namespace,
                      "labels": pods.labels("credentials", k8s_name),
                      "annotations": annotations},
            type="Opaque",
            string_data={key: pulumi.Output.secret(value) for key, value in data.items()},
            opts=opts,
        )

    def _replica_set(self, k8s_name: str, set_name: str, role: str, volume_size: str,
                     resources: dict) -> ReplicaSetArgs:
        args = self.args
        return ReplicaSetArgs(
            namespace=args.namespace,
            k8s_name=k8s_name,
            set_name=set_name,
            role=role,  # type: ignore[arg-type]
            members=args.members,
            storage_class=args.storage_class,
            volume_size=volume_size,
            priority_class=args.priority_class,
            keyfile_secret="mongo-keyfile",
            scripts_config_map=self.scripts_config_map,
            resources=resources,
            cluster_domain=args.cluster_domain,
            wait_seconds=args.wait_seconds,
        )

    def _mongos(self, name: str, opts: pulumi.ResourceOptions):
        args = self.args
        labels = pods.labels("mongos", "mongos")
        match = pods.selector("mongos", "mongos")
        container = {
            "name": "mongos",
            "image": pods.MONGO_IMAGE,
            "command": [
                "mongos",
                "--configdb", self.config_servers.args.seed,
                "--port", str(pods.PORT),
                "--bind_ip_all",
                "--keyFile", pods.KEYFILE,
            ],
            "ports": [{"name": "mongodb", "containerPort": pods.PORT, "protocol": "TCP"}],
            "resources": MONGOS_RESOURCES,
            "securityContext": pods.container_security(),
            # TCP probes: a mongosh probe would start a Node.js runtime every few seconds.
            "readinessProbe": {"tcpSocket": {"port": "mongodb"}, "periodSeconds": 10},
            "livenessProbe": {"tcpSocket": {"port": "mongodb"}, "periodSeconds": 20,
                              "failureThreshold": 6},
            "volumeMounts": [
                {"name": "keyfile", "mountPath": pods.KEYFILE_DIR, "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        }
        deployment = k8s.apps.v1.Deployment(
            f"{name}-mongos",
            metadata={"name": "mongos", "namespace": args.namespace, "labels": labels},
            spec={
                "replicas": args.mongos_replicas,
                "selector": {"matchLabels": match},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": pods.pod_spec(
                        [container],
                        [*pods.keyfile_volumes("mongo-keyfile"), pods.tmp_volume()],
                        args.priority_class,
                        init_containers=[pods.keyfile_init_container()],
                        affinity=pods.spread(match),
                    ),
                },
            },
            opts=opts,
        )
        service = k8s.core.v1.Service(
            f"{name}-mongos",
            metadata={"name": "mongos", "namespace": args.namespace, "labels": labels},
            spec={
                "type": "ClusterIP",
                "selector": match,
                "ports": [{"name": "mongodb", "port": pods.PORT, "targetPort": "mongodb",
                           "protocol": "TCP"}],
            },
            opts=opts,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-mongos-pdb",
            metadata={"name": "mongos", "namespace": args.namespace, "labels": labels},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": match}},
            opts=opts,
        )
        return deployment, service

    def _cluster_init_job(self, name: str, opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
        args = self.args
        job_name = "mongo-cluster-init"
        labels = pods.labels("init", job_name)
        secret_mounts = (("admin", "mongo-admin"), *(
            (f"user-{client.name}", client.secret_name) for client in args.clients))
        users = [{"user": ADMIN_USER, "db": "admin", "roles": [{"role": "root", "db": "admin"}],
                  "passwordFile": f"{pods.SECRETS_DIR}/mongo-admin/password"}]
        users += [{"user": client.name, "db": "admin", "roles": client.roles,
                   "passwordFile": f"{pods.SECRETS_DIR}/{client.secret_name}/password"}
                  for client in args.clients]
        return k8s.batch.v1.Job(
            f"{name}-cluster-init",
            metadata={"name": job_name, "namespace": args.namespace, "labels": labels},
            spec=pods.init_job_spec(
                labels=labels,
                container="initialise",
                script="cluster-init.js",
                env={
                    "MONGOS_HOST": self.address,
                    "SHARDS": json.dumps([{"name": shard.args.set_name,
                                           "hosts": shard.args.hosts}
                                          for shard in self.shards]),
                    "USERS": json.dumps(users),
                    "SHARDED_DATABASES": json.dumps(list(args.sharded_databases)),
                    "SHARDED_COLLECTIONS": json.dumps([
                        {"ns": collection.namespace, "key": dict(collection.key)}
                        for collection in args.sharded_collections]),
                },
                scripts_config_map=self.scripts_config_map,
                keyfile_secret="mongo-keyfile",
                secrets=secret_mounts,
                priority_class=args.priority_class,
                wait_seconds=args.wait_seconds,
            ),
            opts=opts,
        )
