"""The EBS CSI driver: provisions, attaches and deletes an EBS volume for each claim, and the
default `gp3` StorageClass the database's claims use.

The controller runs on the masters with host networking: with an instance metadata hop limit
of 1 only host-network pods get the instance role's credentials, and only the masters' role
holds the EBS policy. The node plugin makes no AWS call; unable to reach the metadata service,
it reads its instance ID and zone from its Node object (set by the cloud controller manager).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

NAMESPACE = "kube-system"
DRIVER = "ebs.csi.aws.com"
STORAGE_CLASS = "gp3"

# Release v1.61.1 of the driver with the sidecars its chart pins.
DRIVER_IMAGE = "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.61.1"
SIDECARS = "public.ecr.aws/csi-components"
PROVISIONER_IMAGE = f"{SIDECARS}/csi-provisioner:v6.2.0-eksbuild.7"
ATTACHER_IMAGE = f"{SIDECARS}/csi-attacher:v4.12.0-eksbuild.2"
RESIZER_IMAGE = f"{SIDECARS}/csi-resizer:v2.2.0-eksbuild.2"
LIVENESS_IMAGE = f"{SIDECARS}/livenessprobe:v2.19.0-eksbuild.2"
REGISTRAR_IMAGE = f"{SIDECARS}/csi-node-driver-registrar:v2.17.0-eksbuild.2"

CONTROLLER = "ebs-csi-controller"
NODE = "ebs-csi-node"
CONTROLLER_ACCOUNT = "ebs-csi-controller-sa"
NODE_ACCOUNT = "ebs-csi-node-sa"
HEALTH_PORT = 9808
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"

CONTROLLER_SOCKET_DIR = "/var/lib/csi/sockets/pluginproxy/"
NODE_PLUGIN_DIR = f"/var/lib/kubelet/plugins/{DRIVER}/"

# what each sidecar of the controller needs from the API (the driver's own RBAC)
CLUSTER_ROLES = {
    "ebs-external-provisioner-role": [
        {"api_groups": [""], "resources": ["persistentvolumes"],
         "verbs": ["get", "list", "watch", "create", "delete", "patch"]},
        {"api_groups": [""], "resources": ["persistentvolumeclaims"],
         "verbs": ["get", "list", "watch", "update"]},
        {"api_groups": ["storage.k8s.io"], "resources": ["storageclasses"],
         "verbs": ["get", "list", "watch"]},
        {"api_groups": [""], "resources": ["events"],
         "verbs": ["list", "watch", "create", "update", "patch"]},
        {"api_groups": ["snapshot.storage.k8s.io"],
         "resources": ["volumesnapshots", "volumesnapshotcontents"], "verbs": ["get", "list"]},
        {"api_groups": ["storage.k8s.io"], "resources": ["csinodes"],
         "verbs": ["get", "list", "watch"]},
        {"api_groups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {"api_groups": ["storage.k8s.io"], "resources": ["volumeattachments"],
         "verbs": ["get", "list", "watch"]},
        {"api_groups": ["storage.k8s.io"], "resources": ["volumeattributesclasses"],
         "verbs": ["get"]},
    ],
    "ebs-external-attacher-role": [
        {"api_groups": [""], "resources": ["persistentvolumes"],
         "verbs": ["get", "list", "watch", "patch"]},
        {"api_groups": ["storage.k8s.io"], "resources": ["csinodes"],
         "verbs": ["get", "list", "watch"]},
        {"api_groups": ["storage.k8s.io"], "resources": ["volumeattachments"],
         "verbs": ["get", "list", "watch", "patch"]},
        {"api_groups": ["storage.k8s.io"], "resources": ["volumeattachments/status"],
         "verbs": ["patch"]},
    ],
    "ebs-external-resizer-role": [
        {"api_groups": [""], "resources": ["persistentvolumes"],
         "verbs": ["get", "list", "watch", "patch"]},
        {"api_groups": [""], "resources": ["persistentvolumeclaims"],
         "verbs": ["get", "list", "watch"]},
        {"api_groups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"api_groups": [""], "resources": ["persistentvolumeclaims/status"], "verbs": ["patch"]},
        {"api_groups": [""], "resources": ["events"],
         "verbs": ["list", "watch", "create", "update", "patch"]},
        {"api_groups": ["storage.k8s.io"], "resources": ["volumeattributesclasses"],
         "verbs": ["get", "list", "watch"]},
    ],
    "ebs-csi-node-role": [
        {"api_groups": ["storage.k8s.io"], "resources": ["volumeattachments"],
         "verbs": ["get", "list", "watch"]},
        {"api_groups": [""], "resources": ["nodes"], "verbs": ["get", "patch", "list", "watch"]},
        {"api_groups": ["storage.k8s.io"], "resources": ["csinodes"], "verbs": ["get"]},
    ],
}
NODE_ROLE = "ebs-csi-node-role"

SMALL = {"requests": {"cpu": "10m", "memory": "40Mi"}, "limits": {"memory": "256Mi"}}
LOCKED_DOWN = {"allow_privilege_escalation": False, "read_only_root_filesystem": True}


def _socket_env(address: str) -> list[dict]:
    return [{"name": "ADDRESS", "value": address}]


def _sidecar(name: str, image: str, args: list[str]) -> dict:
    return {
        "name": name,
        "image": image,
        "args": ["--csi-address=$(ADDRESS)", "--v=2", *args],
        "env": _socket_env(f"{CONTROLLER_SOCKET_DIR}csi.sock"),
        "volume_mounts": [{"name": "socket-dir", "mount_path": CONTROLLER_SOCKET_DIR}],
        "resources": SMALL,
        "security_context": LOCKED_DOWN,
    }


def _health_probe() -> dict:
    return {"http_get": {"path": "/healthz", "port": "healthz"}, "initial_delay_seconds": 10,
            "timeout_seconds": 3, "period_seconds": 10, "failure_threshold": 5}


def _controller_spec(cluster_name: str, region: str, replicas: int, labels: dict) -> dict:
    selector = {"app": CONTROLLER, "app.kubernetes.io/name": "aws-ebs-csi-driver"}
    return {
        "replicas": replicas,
        "selector": {"match_labels": selector},
        "strategy": {"type": "RollingUpdate", "rolling_update": {"max_unavailable": 1}},
        "template": {
            "metadata": {"labels": {**labels, **selector}},
            "spec": {
                "service_account_name": CONTROLLER_ACCOUNT,
                "priority_class_name": "system-cluster-critical",
                # host networking reaches the metadata service; its port keeps replicas apart
                "host_network": True,
                "node_selector": {CONTROL_PLANE: "", "kubernetes.io/os": "linux"},
                "tolerations": [{"key": CONTROL_PLANE, "operator": "Exists",
                                 "effect": "NoSchedule"}],
                "security_context": {"run_as_non_root": True, "run_as_user": 1000,
                                     "run_as_group": 1000, "fs_group": 1000},
                "containers": [
                    {
                        "name": "ebs-plugin",
                        "image": DRIVER_IMAGE,
                        "args": [
                            "controller", "--endpoint=$(CSI_ENDPOINT)", "--batching=true",
                            "--logging-format=text", "--v=2",
                            # tags each volume, so one left behind can be traced to its cluster
                            f"--k8s-tag-cluster-id={cluster_name}",
                            f"--extra-tags=KubernetesCluster={cluster_name}",
                        ],
                        "env": [
                            {"name": "CSI_ENDPOINT",
                             "value": f"unix://{CONTROLLER_SOCKET_DIR}csi.sock"},
                            {"name": "CSI_NODE_NAME",
                             "value_from": {"field_ref": {"field_path": "spec.nodeName"}}},
                            {"name": "AWS_REGION", "value": region},
                        ],
                        "volume_mounts": [{"name": "socket-dir",
                                           "mount_path": CONTROLLER_SOCKET_DIR}],
                        "ports": [{"name": "healthz", "container_port": HEALTH_PORT,
                                   "protocol": "TCP"}],
                        "liveness_probe": _health_probe(),
                        "readiness_probe": _health_probe(),
                        "resources": SMALL,
                        "security_context": LOCKED_DOWN,
                    },
                    _sidecar("csi-provisioner", PROVISIONER_IMAGE, [
                        "--timeout=60s", "--feature-gates=Topology=true",
                        "--extra-create-metadata", "--leader-election=true",
                        "--default-fstype=ext4"]),
                    _sidecar("csi-attacher", ATTACHER_IMAGE, [
                        "--timeout=60s", "--leader-election=true"]),
                    _sidecar("csi-resizer", RESIZER_IMAGE, [
                        "--timeout=60s", "--handle-volume-inuse-error=false",
                        "--leader-election=true"]),
                    {
                        "name": "liveness-probe",
                        "image": LIVENESS_IMAGE,
                        "args": ["--csi-address=/csi/csi.sock",
                                 f"--http-endpoint=:{HEALTH_PORT}"],
                        "volume_mounts": [{"name": "socket-dir", "mount_path": "/csi"}],
                        "resources": SMALL,
                        "security_context": LOCKED_DOWN,
                    },
                ],
                "volumes": [{"name": "socket-dir", "empty_dir": {}}],
            },
        },
    }


def _node_spec(region: str, labels: dict) -> dict:
    selector = {"app": NODE, "app.kubernetes.io/name": "aws-ebs-csi-driver"}
    socket = "/csi/csi.sock"
    registration = f"{NODE_PLUGIN_DIR}csi.sock"
    return {
        "selector": {"match_labels": selector},
        "update_strategy": {"type": "RollingUpdate",
                            "rolling_update": {"max_unavailable": "10%"}},
        "template": {
            "metadata": {"labels": {**labels, **selector}},
            "spec": {
                "service_account_name": NODE_ACCOUNT,
                "priority_class_name": "system-node-critical",
                "node_selector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"operator": "Exists"}],
                "containers": [
                    {
                        "name": "ebs-plugin",
                        "image": DRIVER_IMAGE,
                        "args": ["node", "--endpoint=$(CSI_ENDPOINT)", "--logging-format=text",
                                 "--v=2"],
                        "env": [
                            {"name": "CSI_ENDPOINT", "value": f"unix:{socket}"},
                            {"name": "CSI_NODE_NAME",
                             "value_from": {"field_ref": {"field_path": "spec.nodeName"}}},
                            {"name": "AWS_REGION", "value": region},
                        ],
                        "volume_mounts": [
                            {"name": "kubelet-dir", "mount_path": "/var/lib/kubelet",
                             "mount_propagation": "Bidirectional"},
                            {"name": "plugin-dir", "mount_path": "/csi"},
                            {"name": "device-dir", "mount_path": "/dev"},
                        ],
                        "ports": [{"name": "healthz", "container_port": HEALTH_PORT,
                                   "protocol": "TCP"}],
                        "liveness_probe": _health_probe(),
                        "resources": SMALL,
                        # mounting volumes into pods needs a privileged container
                        "security_context": {"privileged": True,
                                             "read_only_root_filesystem": True},
                        "lifecycle": {"pre_stop": {"exec": {
                            "command": ["/bin/aws-ebs-csi-driver", "pre-stop-hook"]}}},
                    },
                    {
                        "name": "node-driver-registrar",
                        "image": REGISTRAR_IMAGE,
                        "args": ["--csi-address=$(ADDRESS)",
                                 "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)", "--v=2"],
                        "env": [{"name": "ADDRESS", "value": socket},
                                {"name": "DRIVER_REG_SOCK_PATH", "value": registration}],
                        "liveness_probe": {
                            "exec": {"command": [
                                "/csi-node-driver-registrar",
                                "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)",
                                "--mode=kubelet-registration-probe"]},
                            "initial_delay_seconds": 30, "period_seconds": 90,
                            "timeout_seconds": 15,
                        },
                        "volume_mounts": [
                            {"name": "plugin-dir", "mount_path": "/csi"},
                            {"name": "registration-dir", "mount_path": "/registration"},
                            {"name": "probe-dir", "mount_path": NODE_PLUGIN_DIR},
                        ],
                        "resources": SMALL,
                        "security_context": LOCKED_DOWN,
                    },
                    {
                        "name": "liveness-probe",
                        "image": LIVENESS_IMAGE,
                        "args": [f"--csi-address={socket}", f"--http-endpoint=:{HEALTH_PORT}"],
                        "volume_mounts": [{"name": "plugin-dir", "mount_path": "/csi"}],
                        "resources": SMALL,
                        "security_context": LOCKED_DOWN,
                    },
                ],
                "volumes": [
                    {"name": "kubelet-dir",
                     "host_path": {"path": "/var/lib/kubelet", "type": "Directory"}},
                    {"name": "plugin-dir",
                     "host_path": {"path": NODE_PLUGIN_DIR, "type": "DirectoryOrCreate"}},
                    {"name": "registration-dir",
                     "host_path": {"path": "/var/lib/kubelet/plugins_registry/",
                                   "type": "Directory"}},
                    {"name": "device-dir", "host_path": {"path": "/dev", "type": "Directory"}},
                    {"name": "probe-dir", "empty_dir": {}},
                ],
            },
        },
    }


def deploy_ebs_csi(name: str, cluster_name: str, region: str, controller_replicas: int,
                   opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """The driver's Kubernetes objects and the default StorageClass, named from `name`."""
    labels = {"app.kubernetes.io/name": "aws-ebs-csi-driver",
              "app.kubernetes.io/part-of": "cncfdemo"}
    made: list[pulumi.Resource] = []

    made.append(k8s.storage.v1.CSIDriver(
        f"{name}-driver",
        metadata={"name": DRIVER, "labels": labels},
        spec={"attach_required": True, "pod_info_on_mount": False,
              "fs_group_policy": "File"},
        opts=opts,
    ))
    for account in (CONTROLLER_ACCOUNT, NODE_ACCOUNT):
        made.append(k8s.core.v1.ServiceAccount(
            f"{name}-{account}",
            metadata={"name": account, "namespace": NAMESPACE, "labels": labels},
            opts=opts,
        ))

    for role, rules in CLUSTER_ROLES.items():
        account = NODE_ACCOUNT if role == NODE_ROLE else CONTROLLER_ACCOUNT
        made.append(k8s.rbac.v1.ClusterRole(
            f"{name}-{role}", metadata={"name": role, "labels": labels}, rules=rules,
            opts=opts))
        made.append(k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-{role}-binding",
            metadata={"name": role.removesuffix("-role") + "-binding", "labels": labels},
            role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                      "name": role},
            subjects=[{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
            opts=opts,
        ))

    # the sidecars elect a leader through leases
    made.append(k8s.rbac.v1.Role(
        f"{name}-leases",
        metadata={"name": "ebs-csi-leases-role", "namespace": NAMESPACE, "labels": labels},
        rules=[{"api_groups": ["coordination.k8s.io"], "resources": ["leases"],
                "verbs": ["get", "watch", "list", "delete", "update", "create"]}],
        opts=opts,
    ))
    made.append(k8s.rbac.v1.RoleBinding(
        f"{name}-leases-binding",
        metadata={"name": "ebs-csi-leases-rolebinding", "namespace": NAMESPACE,
                  "labels": labels},
        role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "Role",
                  "name": "ebs-csi-leases-role"},
        subjects=[{"kind": "ServiceAccount", "name": CONTROLLER_ACCOUNT,
                   "namespace": NAMESPACE}],
        opts=opts,
    ))

    after_rbac = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=made[:]))
    made.append(k8s.apps.v1.Deployment(
        f"{name}-controller",
        metadata={"name": CONTROLLER, "namespace": NAMESPACE, "labels": labels},
        spec=_controller_spec(cluster_name, region, controller_replicas, labels),
        opts=after_rbac,
    ))
    made.append(k8s.apps.v1.DaemonSet(
        f"{name}-node",
        metadata={"name": NODE, "namespace": NAMESPACE, "labels": labels},
        spec=_node_spec(region, labels),
        opts=after_rbac,
    ))

    made.append(k8s.storage.v1.StorageClass(
        f"{name}-storage-class",
        metadata={"name": STORAGE_CLASS, "labels": labels,
                  "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        provisioner=DRIVER,
        parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
        reclaim_policy="Delete",
        # a volume is made in the zone of the node its pod lands on
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        opts=opts,
    ))
    return made
