"""Countly under mocks: API and dashboard apart, autoscaling, waiting for mongos, exposure,
the provisioned application and its key."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from cncfdemo.harness import is_secret
from cncfdemo.render import kubernetes_object
from components.workloads import countly
from components.workloads.mongodb.pods import CLIENT_LABEL, MONGO_IMAGE, SCRIPTS_DIR
from components.workloads.platform import FOREGROUND_PRIORITY
from stacks.cluster import PUBLISHED_NODE_PORTS, Exposure

NAME = "app.kubernetes.io/name"


def countly_objects(run) -> dict[str, tuple]:
    found = {}
    for resource in run.kubernetes_objects():
        obj = kubernetes_object(resource)
        if (obj["metadata"].get("labels") or {}).get(NAME) == "countly":
            found[f"{obj['kind']}/{obj['metadata']['name']}"] = (obj, resource)
    return found


def obj(run, key: str) -> dict:
    return countly_objects(run)[key][0]


def pod(run, key: str) -> dict:
    return obj(run, key)["spec"]["template"]["spec"]


def env_of(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container.get("env", [])}


def test_objects(program_run):
    objects = countly_objects(program_run("local-demo"))
    assert {key for key in objects if key.split("/")[0] in ("Deployment", "Service", "Job",
                                                             "HorizontalPodAutoscaler")} == {
        "Deployment/countly-api", "Deployment/countly-frontend", "Deployment/countly-gateway",
        "Service/countly-api", "Service/countly-frontend", "Service/countly",
        "Job/countly-app-init", "HorizontalPodAutoscaler/countly-api"}


def test_images_are_pinned_official_releases():
    assert re.fullmatch(r"countly/api:\d+\.\d+\.\d+", countly.API_IMAGE)
    assert re.fullmatch(r"countly/frontend:\d+\.\d+\.\d+", countly.FRONTEND_IMAGE)
    assert countly.API_IMAGE.split(":")[1] == countly.FRONTEND_IMAGE.split(":")[1]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+-alpine", countly.GATEWAY_IMAGE)


@pytest.mark.parametrize(("low", "high"), [(1, 2), (2, 6), (3, 10)])
def test_api_autoscales_between_the_configured_bounds(program_run, low, high):
    run = program_run("local-demo", countlyMinReplicas=str(low), countlyMaxReplicas=str(high))
    scaler = obj(run, "HorizontalPodAutoscaler/countly-api")["spec"]
    assert (scaler["minReplicas"], scaler["maxReplicas"]) == (low, high)
    assert scaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "countly-api"}
    assert scaler["metrics"][0]["resource"]["name"] == "cpu"
    # the autoscaler owns the replica count; the program never sets it
    assert "replicas" not in obj(run, "Deployment/countly-api")["spec"]


def test_api_and_dashboard_wait_for_mongos_before_starting(program_run):
    run = program_run("local-demo")
    for name in ("countly-api", "countly-frontend"):
        spec = pod(run, f"Deployment/{name}")
        [wait] = spec["initContainers"]
        assert wait["image"] == MONGO_IMAGE
        assert wait["command"][-1] == f"{SCRIPTS_DIR}/wait-for-mongos.js"
        env = {key: item["value"] for key, item in env_of(wait).items()}
        assert env["MONGOS_HOST"] == "mongos.demo.svc.cluster.local:27017"
        assert 0 < int(env["WAIT_SECONDS"]) <= 3600
        assert wait["securityContext"]["runAsUser"] == 999


def test_countly_reads_the_mongodb_uri_from_the_secret(program_run):
    run = program_run("local-demo")
    for name in ("countly-api", "countly-frontend"):
        container = pod(run, f"Deployment/{name}")["containers"][0]
        env = env_of(container)
        assert env["COUNTLY_CONFIG__MONGODB"] == {"name": "COUNTLY_CONFIG__MONGODB", "valueFrom": {
            "secretKeyRef": {"name": "mongo-user-countly", "key": "uri"}}}
        assert env["COUNTLY_PLUGINS"]["value"] == countly.PLUGINS
    api = env_of(pod(run, "Deployment/countly-api")["containers"][0])
    assert api["COUNTLY_CONFIG_API_API_WORKERS"]["value"] == "1"


def test_probes(program_run):
    run = program_run("local-demo")
    expected = {"countly-api": ("/o/ping", countly.API_PORT),
                "countly-frontend": ("/ping", countly.FRONTEND_PORT),
                "countly-gateway": ("/healthz", countly.GATEWAY_PORT)}
    for name, (path, port) in expected.items():
        container = pod(run, f"Deployment/{name}")["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == path, name
        assert "livenessProbe" in container, name
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]


def test_every_pod_is_hardened_and_in_the_foreground_class(program_run):
    run = program_run("local-demo")
    for key, (workload, _) in countly_objects(run).items():
        if key.split("/")[0] not in ("Deployment", "Job"):
            continue
        spec = workload["spec"]["template"]["spec"]
        assert spec["priorityClassName"] == FOREGROUND_PRIORITY, key
        assert spec["automountServiceAccountToken"] is False, key
        assert spec["securityContext"]["runAsNonRoot"] is True, key
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, key
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{key} {container['name']}"
            assert ":" in container["image"] and not container["image"].endswith(":latest")
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, where
    assert pod(run, "Deployment/countly-api")["securityContext"]["runAsUser"] == countly.COUNTLY_UID
    gateway = pod(run, "Deployment/countly-gateway")["containers"][0]
    assert gateway["securityContext"]["readOnlyRootFilesystem"] is True


def test_local_stack_publishes_the_gateway_on_its_node_port(program_run):
    run = program_run("local-demo")
    service = obj(run, "Service/countly")["spec"]
    assert service["type"] == "NodePort"
    assert service["ports"][0]["nodePort"] == PUBLISHED_NODE_PORTS["countly"]
    assert service["selector"] == {NAME: "countly", "app.kubernetes.io/component": "gateway"}
    assert run.outputs["countlyUrl"] == f"http://localhost:{PUBLISHED_NODE_PORTS['countly']}"
    # API and dashboard stay inside the cluster
    assert obj(run, "Service/countly-api")["spec"]["type"] == "ClusterIP"
    assert obj(run, "Service/countly-frontend")["spec"]["type"] == "ClusterIP"


def test_clouds_publish_the_gateway_through_a_load_balancer(program_run):
    run = program_run("aws-demo")
    assert obj(run, "Service/countly")["spec"]["type"] == "LoadBalancer"
    assert re.fullmatch(r"http://[^/]+\.elb\.example:80", run.outputs["countlyUrl"])


def test_gateway_routes_the_api_paths_to_the_api_and_the_rest_to_the_dashboard(rendered):
    conf = (rendered("local-demo") / "files" / "demo" / "countly-gateway" / "nginx.conf")
    text = conf.read_text()
    assert f"server countly-api:{countly.API_PORT};" in text
    assert f"server countly-frontend:{countly.FRONTEND_PORT};" in text
    routes = dict(re.findall(r"location ([^{]+?) \{\s*proxy_pass http://(\w+);", text))
    assert routes == {"= /i": "countly_api", "^~ /i/": "countly_api", "= /o": "countly_api",
                      "^~ /o/": "countly_api", "/": "countly_frontend"}


def test_app_is_provisioned_with_a_generated_key_after_the_cluster_is_ready(program_run):
    run = program_run("local-demo")
    objects = countly_objects(run)
    job, resource = objects["Job/countly-app-init"]
    cluster_init = next(r for r in run.kubernetes_objects()
                        if kubernetes_object(r)["metadata"]["name"] == "mongo-cluster-init")
    assert cluster_init.urn in resource.dependencies
    spec = job["spec"]["template"]["spec"]
    assert job["spec"]["template"]["metadata"]["labels"][CLIENT_LABEL] == "countly"
    container = spec["containers"][0]
    assert container["command"][-1] == f"{SCRIPTS_DIR}/countly-app.js"
    secrets = {volume["secret"]["secretName"] for volume in spec["volumes"] if "secret" in volume}
    assert secrets == {"countly-app", "mongo-user-countly"}
    # secrets reach the Job as files only
    assert all("valueFrom" not in item for item in container["env"])


def test_app_key_is_secret_shared_with_the_benchmark_and_never_rendered(program_run, rendered):
    run = program_run("local-demo")
    _, secret = countly_objects(run)["Secret/countly-app"]
    assert is_secret(secret.inputs["stringData"])
    key = secret.plain_inputs["stringData"]["app_key"]
    assert len(key) == countly.APP_KEY_LENGTH and key.isalnum() and key == key.lower()

    # the benchmark writes with the key the stack provisioned, not a placeholder
    others = [r for r in run.kubernetes_objects() if r.urn != secret.urn]
    assert any(key in str(r.plain_inputs) for r in others)
    folder = rendered("local-demo")
    for path in folder.rglob("*"):
        if path.is_file():
            assert key not in path.read_text(), path.relative_to(folder)


def test_network_policies(program_run):
    run = program_run("local-demo")
    policies = {key.split("/")[1]: value[0]["spec"] for key, value in countly_objects(run).items()
                if key.startswith("NetworkPolicy/")}
    assert set(policies) == {"countly-gateway-ingress", "countly-api-ingress",
                             "countly-frontend-ingress", "countly-app-init-ingress"}
    assert "from" not in policies["countly-gateway-ingress"]["ingress"][0]
    frontend_from = policies["countly-frontend-ingress"]["ingress"][0]["from"]
    assert frontend_from == [{"podSelector": {"matchLabels": {
        NAME: "countly", "app.kubernetes.io/component": "gateway"}}}]
    assert policies["countly-app-init-ingress"]["ingress"] == []


def test_args_validation():
    exposure = Exposure(service_type="NodePort", node_host="localhost")
    # what CountlyArgs reads of a MongoDB component, without registering one
    mongodb = SimpleNamespace(client_secrets={"countly": "mongo-user-countly"},
                              args=SimpleNamespace(namespace="demo"))
    with pytest.raises(ValueError, match="countlyMinReplicas"):
        countly.CountlyArgs(namespace="demo", exposure=exposure, mongodb=mongodb,
                            min_replicas=3, max_replicas=2)
    with pytest.raises(ValueError, match="namespace"):
        countly.CountlyArgs(namespace="other", exposure=exposure, mongodb=mongodb)
    with pytest.raises(ValueError, match="client user"):
        countly.CountlyArgs(namespace="demo", exposure=exposure,
                            mongodb=SimpleNamespace(client_secrets={}, args=mongodb.args))


def test_every_object_is_labelled_and_pods_carry_their_selector(program_run):
    for key, (workload, _) in countly_objects(program_run("local-demo")).items():
        labels = workload["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "cncfdemo", key
        assert labels["app.kubernetes.io/component"], key
        template = (workload.get("spec") or {}).get("template")
        selector = (workload.get("spec") or {}).get("selector", {}).get("matchLabels")
        if template and selector:
            assert selector.items() <= template["metadata"]["labels"].items(), key
