"""Pod parts every MongoDB process and script shares: image, user, key file, scripts, limits."""

from __future__ import annotations

import hashlib
from pathlib import Path

# The official image, pinned; it carries mongod, mongos and mongosh.
MONGO_IMAGE = "mongo:8.0.20"
# The image's `mongodb` user, which owns nothing outside the volumes we mount.
MONGO_UID = 999
PORT = 27017

SCRIPTS = Path(__file__).resolve().parents[1] / "files" / "mongodb"
SCRIPTS_DIR = "/opt/cncfdemo/mongodb"
KEYFILE_SECRET_DIR = "/etc/mongodb/keyfile-secret"
KEYFILE_DIR = "/etc/mongodb/keyfile"
KEYFILE = f"{KEYFILE_DIR}/keyfile"
SECRETS_DIR = "/var/run/secrets/cncfdemo"

# Label keys; CLIENT_LABEL marks the pods that may reach mongos, valued with their MongoDB user.
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
INSTANCE_LABEL = "app.kubernetes.io/instance"
CLIENT_LABEL = "mongodb.cncfdemo.io/client"
SCRIPTS_HASH_ANNOTATION = "cncfdemo.io/scripts-sha256"

# A mounted Secret is group-readable so the non-root user (through fsGroup) can read it.
SECRET_FILE_MODE = 0o440


def labels(component: str, instance: str) -> dict[str, str]:
    return {
        NAME_LABEL: "mongodb",
        COMPONENT_LABEL: component,
        INSTANCE_LABEL: instance,
        "app.kubernetes.io/part-of": "cncfdemo",
    }


def selector(component: str, instance: str) -> dict[str, str]:
    """The immutable subset of `labels` that selects a workload's pods."""
    return {NAME_LABEL: "mongodb", COMPONENT_LABEL: component, INSTANCE_LABEL: instance}


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict:
    return {"requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def script_text(name: str) -> str:
    return (SCRIPTS / name).read_text()


def scripts() -> dict[str, str]:
    """Every script by file name, as the ConfigMap holds them."""
    return {path.name: path.read_text() for path in sorted(SCRIPTS.glob("*.js"))}


def scripts_hash(*names: str) -> str:
    """A digest of a script and the library it loads: a Job whose script changed is replaced."""
    digest = hashlib.sha256()
    for name in ("lib.js", *names):
        digest.update(script_text(name).encode())
    return digest.hexdigest()


def pod_security(uid: int, gid: int | None = None, fs_group: bool = True) -> dict:
    """Non-root; with `fs_group`, mounted Secrets and volumes belong to the pod's group."""
    gid = uid if gid is None else gid
    security = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group:
        security["fsGroup"] = gid
    return security


def container_security(read_only_root: bool = True) -> dict:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def tmp_volume() -> dict:
    return {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}


def secret_volume(name: str, secret: str) -> dict:
    return {"name": name, "secret": {"secretName": secret, "defaultMode": SECRET_FILE_MODE}}


def scripts_volume(config_map: str) -> dict:
    return {"name": "scripts", "configMap": {"name": config_map, "defaultMode": 0o444}}


def keyfile_volumes(secret: str) -> list[dict]:
    return [
        secret_volume("keyfile-secret", secret),
        {"name": "keyfile", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
    ]


def keyfile_init_container() -> dict:
    """Copies the key file where mongod accepts it: owned by its user, readable by no one else.

    A Secret volume cannot give that: with fsGroup set its files are group-readable, which
    mongod refuses as "permissions on the key file are too open".
    """
    return {
        "name": "install-keyfile",
        "image": MONGO_IMAGE,
        "command": ["sh", "-c",
                    f"cp {KEYFILE_SECRET_DIR}/keyfile {KEYFILE} && chmod 0400 {KEYFILE}"],
        "resources": resources("10m", "16Mi", "100m", "64Mi"),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "keyfile-secret", "mountPath": KEYFILE_SECRET_DIR, "readOnly": True},
            {"name": "keyfile", "mountPath": KEYFILE_DIR},
        ],
    }


def mongosh_container(name: str, script: str, env: dict[str, str],
                      mounts: tuple[dict, ...] = ()) -> dict:
    """A container running one of the scripts with mongosh (a Node.js runtime, hence the memory)."""
    variables = {"SCRIPTS_DIR": SCRIPTS_DIR, "HOME": "/tmp", **env}
    return {
        "name": name,
        "image": MONGO_IMAGE,
        "command": ["mongosh", "--nodb", "--quiet", f"{SCRIPTS_DIR}/{script}"],
        "env": [{"name": key, "value": value} for key, value in variables.items()],
        "resources": resources("50m", "128Mi", "500m", "384Mi"),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            *mounts,
        ],
    }


def init_job_spec(*, labels: dict[str, str], container: str, script: str, env: dict[str, str],
                  scripts_config_map: str, keyfile_secret: str, priority_class: str,
                  wait_seconds: int, secrets: tuple[tuple[str, str], ...] = ()) -> dict:
    """A one-shot Job that runs `script` with mongosh, holding the cluster's key file.

    `secrets` are (volume, Secret name) pairs mounted read-only under SECRETS_DIR/<Secret name>.
    The script waits up to `wait_seconds` for its peers; the Job gets twice that in all.
    """
    mongosh = mongosh_container(
        container, script,
        {**env, "KEYFILE_PATH": f"{KEYFILE_SECRET_DIR}/keyfile",
         "WAIT_SECONDS": str(wait_seconds)},
        mounts=(
            {"name": "keyfile-secret", "mountPath": KEYFILE_SECRET_DIR, "readOnly": True},
            *({"name": volume, "mountPath": f"{SECRETS_DIR}/{secret}", "readOnly": True}
              for volume, secret in secrets),
        ),
    )
    return {
        "backoffLimit": 4,
        "activeDeadlineSeconds": 2 * wait_seconds,
        "template": {
            "metadata": {
                "labels": labels,
                "annotations": {SCRIPTS_HASH_ANNOTATION: scripts_hash(script)},
            },
            "spec": pod_spec(
                [mongosh],
                [scripts_volume(scripts_config_map),
                 secret_volume("keyfile-secret", keyfile_secret),
                 *(secret_volume(volume, secret) for volume, secret in secrets),
                 tmp_volume()],
                priority_class,
                restartPolicy="Never",
            ),
        },
    }


def pod_spec(containers: list[dict], volumes: list[dict], priority_class: str, *,
             init_containers: list[dict] | None = None, uid: int = MONGO_UID,
             gid: int | None = None, fs_group: bool = True, **extra) -> dict:
    """A hardened pod: non-root, no service account token, in the given priority class."""
    spec = {
        "priorityClassName": priority_class,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(uid, gid, fs_group),
        "containers": containers,
        "volumes": volumes,
        **extra,
    }
    if init_containers:
        spec["initContainers"] = init_containers
    return spec


def spread(selector_labels: dict[str, str]) -> dict:
    """Prefer one pod of a set per node, so a node failure costs a set at most one member."""
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100,
        "podAffinityTerm": {"labelSelector": {"matchLabels": selector_labels},
                            "topologyKey": "kubernetes.io/hostname"},
    }]}}
