"""The sharded MongoDB under mocks: objects and counts from config, order, hardening, secrets."""

from __future__ import annotations

import json

import pytest

from cncfdemo.harness import is_secret
from cncfdemo.render import kubernetes_object
from components.workloads.mongodb import ClientUser, MongoDBArgs
from components.workloads.mongodb.component import KEYFILE_LENGTH
from components.workloads.mongodb.pods import CLIENT_LABEL, MONGO_IMAGE, PORT
from components.workloads.platform import FOREGROUND_PRIORITY

NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"


def mongodb_objects(run) -> dict[str, tuple]:
    """MongoDB's Kubernetes objects by `Kind/name`, with their recorded resource."""
    found = {}
    for resource in run.kubernetes_objects():
        obj = kubernetes_object(resource)
        if (obj["metadata"].get("labels") or {}).get(NAME) == "mongodb":
            found[f"{obj['kind']}/{obj['metadata']['name']}"] = (obj, resource)
    return found


def obj(run, key: str) -> dict:
    return mongodb_objects(run)[key][0]


def urn(run, key: str) -> str:
    return mongodb_objects(run)[key][1].urn


def env_of(container: dict) -> dict[str, str]:
    return {item["name"]: item.get("value") for item in container.get("env", [])}


def test_default_local_demo_has_config_servers_two_shards_and_routers(program_run):
    objects = mongodb_objects(program_run("local-demo"))
    assert sorted(k for k in objects if k.startswith("StatefulSet/")) == [
        "StatefulSet/mongo-cfg", "StatefulSet/mongo-shard0", "StatefulSet/mongo-shard1"]
    assert sorted(k for k in objects if k.startswith("Job/")) == [
        "Job/mongo-cfg-init", "Job/mongo-cluster-init", "Job/mongo-shard0-init",
        "Job/mongo-shard1-init"]
    assert "Deployment/mongos" in objects and "Service/mongos" in objects
    # Pulumi.local-demo.yaml keeps one member per set to fit a laptop
    assert objects["StatefulSet/mongo-shard0"][0]["spec"]["replicas"] == 1


@pytest.mark.parametrize(("shards", "members"), [(1, 1), (3, 3), (4, 5)])
def test_sets_and_members_follow_the_config(program_run, shards, members):
    run = program_run("local-demo", mongoShards=str(shards), mongoMembers=str(members))
    objects = mongodb_objects(run)
    sets = {key: value[0] for key, value in objects.items() if key.startswith("StatefulSet/")}
    assert set(sets) == {"StatefulSet/mongo-cfg",
                         *(f"StatefulSet/mongo-shard{i}" for i in range(shards))}
    assert {s["spec"]["replicas"] for s in sets.values()} == {members}

    # every set's init Job names all its members; cluster-init names every shard
    for i in range(shards):
        job = obj(run, f"Job/mongo-shard{i}-init")
        env = env_of(job["spec"]["template"]["spec"]["containers"][0])
        hosts = env["RS_HOSTS"].split(",")
        assert hosts == [f"mongo-shard{i}-{m}.mongo-shard{i}.demo.svc.cluster.local:{PORT}"
                         for m in range(members)]
        assert env["RS_NAME"] == f"shard{i}" and env["RS_CONFIGSVR"] == "false"
    cluster = env_of(obj(run, "Job/mongo-cluster-init")["spec"]["template"]["spec"]
                     ["containers"][0])
    assert [shard["name"] for shard in json.loads(cluster["SHARDS"])] == [
        f"shard{i}" for i in range(shards)]
    assert all(len(shard["hosts"]) == members for shard in json.loads(cluster["SHARDS"]))

    # mongos reaches every config server
    command = obj(run, "Deployment/mongos")["spec"]["template"]["spec"]["containers"][0]["command"]
    configdb = command[command.index("--configdb") + 1]
    assert configdb.startswith("cfg/") and len(configdb.split(",")) == members
    assert sum(1 for key in objects if key.startswith("PodDisruptionBudget/")) == shards + 2


def test_members_run_mongod_with_key_file_auth_and_their_role(program_run):
    run = program_run("local-demo")
    for name, role in [("mongo-cfg", "--configsvr"), ("mongo-shard0", "--shardsvr")]:
        spec = obj(run, f"StatefulSet/{name}")["spec"]
        mongod = spec["template"]["spec"]["containers"][0]
        assert role in mongod["command"]
        assert mongod["command"][mongod["command"].index("--keyFile") + 1] == (
            "/etc/mongodb/keyfile/keyfile")
        assert spec["podManagementPolicy"] == "Parallel"
        assert spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
        # the key file reaches mongod through the init container that makes it private
        init = spec["template"]["spec"]["initContainers"][0]
        assert "chmod 0400" in init["command"][-1]


def test_volumes_use_the_clusters_storage_class(program_run):
    for stack, storage_class in [("local-demo", "standard"), ("aws-demo", None)]:
        run = program_run(stack)
        claim = obj(run, "StatefulSet/mongo-shard0")["spec"]["volumeClaimTemplates"][0]["spec"]
        if storage_class:
            assert claim["storageClassName"] == storage_class
        else:
            assert claim["storageClassName"]
        assert claim["accessModes"] == ["ReadWriteOnce"]


def test_headless_services_publish_members_before_they_are_ready(program_run):
    service = obj(program_run("local-demo"), "Service/mongo-shard1")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    mongos = obj(program_run("local-demo"), "Service/mongos")
    assert mongos["metadata"]["namespace"] == "demo"
    assert mongos["spec"]["ports"][0]["port"] == PORT


def test_disruption_budgets_allow_one_member_down_per_set(program_run):
    run = program_run("local-demo", mongoMembers="3")
    for name in ("mongo-cfg", "mongo-shard0", "mongo-shard1", "mongos"):
        budget = obj(run, f"PodDisruptionBudget/{name}")["spec"]
        assert budget["maxUnavailable"] == 1
        selected = budget["selector"]["matchLabels"]
        workload = obj(run, f"StatefulSet/{name}" if name != "mongos" else "Deployment/mongos")
        assert selected == workload["spec"]["selector"]["matchLabels"]


def test_jobs_run_in_order(program_run):
    run = program_run("local-demo")
    objects = mongodb_objects(run)
    deps = {key: set(resource.dependencies) for key, (_, resource) in objects.items()}
    assert urn(run, "StatefulSet/mongo-shard0") in deps["Job/mongo-shard0-init"]
    # mongos starts once the config servers form a set
    assert urn(run, "Job/mongo-cfg-init") in deps["Deployment/mongos"]
    # the cluster is joined once every shard is a set and mongos runs
    assert {urn(run, "Job/mongo-shard0-init"), urn(run, "Job/mongo-shard1-init"),
            urn(run, "Deployment/mongos")} <= deps["Job/mongo-cluster-init"]


def test_jobs_are_one_shot_and_rerun_when_their_script_changes(program_run):
    for key, (job, _) in mongodb_objects(program_run("local-demo")).items():
        if not key.startswith("Job/"):
            continue
        template = job["spec"]["template"]
        assert template["spec"]["restartPolicy"] == "Never"
        assert len(template["metadata"]["annotations"]["cncfdemo.io/scripts-sha256"]) == 64
        assert job["spec"]["backoffLimit"] <= 6 and job["spec"]["activeDeadlineSeconds"] > 0


def test_cluster_init_creates_users_and_shards_countly(program_run):
    job = obj(program_run("local-demo"), "Job/mongo-cluster-init")
    env = env_of(job["spec"]["template"]["spec"]["containers"][0])
    users = {user["user"]: user for user in json.loads(env["USERS"])}
    assert set(users) == {"admin", "countly"}
    assert users["admin"]["roles"] == [{"role": "root", "db": "admin"}]
    countly_roles = {(role["db"], role["role"]) for role in users["countly"]["roles"]}
    assert ("countly", "readWrite") in countly_roles and ("admin", "root") not in countly_roles
    assert json.loads(env["SHARDED_DATABASES"]) == ["countly"]
    assert json.loads(env["SHARDED_COLLECTIONS"]) == [
        {"ns": "countly.events_data", "key": {"_id": "hashed"}}]


def test_every_pod_is_hardened_and_in_the_foreground_class(program_run):
    for key, (workload, _) in mongodb_objects(program_run("local-demo")).items():
        if key.split("/")[0] not in ("StatefulSet", "Deployment", "Job"):
            continue
        spec = workload["spec"]["template"]["spec"]
        assert spec["priorityClassName"] == FOREGROUND_PRIORITY, key
        assert spec["automountServiceAccountToken"] is False, key
        assert spec["securityContext"]["runAsNonRoot"] is True, key
        assert spec["securityContext"]["runAsUser"] == 999, key
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, key
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{key} {container['name']}"
            assert container["image"] == MONGO_IMAGE, where
            assert set(container["resources"]) == {"requests", "limits"}, where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
        if key.split("/")[0] != "Job":
            server = spec["containers"][0]
            assert "readinessProbe" in server and "livenessProbe" in server, key


def test_image_is_pinned():
    name, tag = MONGO_IMAGE.split(":")
    assert name == "mongo" and tag.count(".") == 2 and tag.split(".")[0] == "8"


def test_secrets_are_secret_and_never_rendered(program_run, rendered):
    run = program_run("local-demo")
    values = {}
    for key in ("Secret/mongo-keyfile", "Secret/mongo-admin", "Secret/mongo-user-countly"):
        _, resource = mongodb_objects(run)[key]
        data = resource.inputs["stringData"]
        assert is_secret(data) or all(is_secret(v) for v in data.values()), key
        values.update({f"{key}:{k}": v for k, v in resource.plain_inputs["stringData"].items()})
    keyfile = values["Secret/mongo-keyfile:keyfile"]
    assert len(keyfile) == KEYFILE_LENGTH and keyfile.isalnum()
    assert values["Secret/mongo-user-countly:password"] in values["Secret/mongo-user-countly:uri"]
    assert values["Secret/mongo-user-countly:uri"].startswith("mongodb://countly:")
    assert "@mongos.demo.svc.cluster.local:27017/countly?authSource=admin" in (
        values["Secret/mongo-user-countly:uri"])

    folder = rendered("local-demo")
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for name, value in values.items():
                assert value not in text, f"{name} in clear in {path.relative_to(folder)}"


def test_admin_password_is_a_secret_of_the_component(program_run):
    run = program_run("local-demo")
    password = next(r for r in run.of_type("random:index/randomPassword:RandomPassword")
                    if r.name.endswith("mongodb-admin-password"))
    assert password.plain_inputs["special"] is False


def test_network_policies_admit_only_members_routers_jobs_and_clients(program_run):
    run = program_run("local-demo")
    mongod = obj(run, "NetworkPolicy/mongod-ingress")["spec"]
    assert mongod["podSelector"]["matchLabels"][COMPONENT] == "mongod"
    [rule] = mongod["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": PORT}]
    [peer] = rule["from"]
    assert peer["podSelector"]["matchLabels"] == {NAME: "mongodb"}
    assert set(peer["podSelector"]["matchExpressions"][0]["values"]) == {"mongod", "mongos",
                                                                         "init"}

    mongos = obj(run, "NetworkPolicy/mongos-ingress")["spec"]
    [rule] = mongos["ingress"]
    peers = rule["from"]
    assert peers[0]["podSelector"]["matchExpressions"][0]["values"] == ["init"]
    assert peers[1]["podSelector"]["matchExpressions"] == [
        {"key": CLIENT_LABEL, "operator": "In", "values": ["countly"]}]
    assert "namespaceSelector" not in peers[0] and "namespaceSelector" not in peers[1]

    # the pods that talk to mongos carry the client label, the public gateway does not
    labelled = set()
    for resource in run.kubernetes_objects():
        workload = kubernetes_object(resource)
        template = (workload.get("spec") or {}).get("template")
        if template and template["metadata"]["labels"].get(CLIENT_LABEL) == "countly":
            labelled.add(workload["metadata"]["name"])
    assert labelled == {"countly-api", "countly-frontend", "countly-app-init"}


@pytest.mark.parametrize(("field", "value"), [("shards", 0), ("shards", 17), ("members", 0),
                                              ("members", 8), ("mongos_replicas", 0)])
def test_args_refuse_impossible_sizes(field, value):
    with pytest.raises(ValueError, match=field):
        MongoDBArgs(namespace="demo", storage_class="standard", **{field: value})


def test_args_refuse_a_client_named_admin():
    with pytest.raises(ValueError, match="admin"):
        ClientUser("admin", ("countly",))


def test_every_object_is_labelled_and_pods_carry_their_selector(program_run):
    for key, (workload, _) in mongodb_objects(program_run("local-demo")).items():
        labels = workload["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "cncfdemo", key
        assert labels[COMPONENT], key
        template = (workload.get("spec") or {}).get("template")
        selector = (workload.get("spec") or {}).get("selector", {}).get("matchLabels")
        if template and selector:
            assert selector.items() <= template["metadata"]["labels"].items(), key
