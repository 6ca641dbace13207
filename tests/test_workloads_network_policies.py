"""The NetworkPolicies evaluated against the pods they govern: each policy's selectors are matched
against the labels the rendered pod templates (and namespaces) really carry, so a label renamed
on one side only changes who may connect, and fails here."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import pytest
from conftest import BOINC_TEST_KEY

from cncfdemo.render import kubernetes_object

# Any source, inside the cluster or not (a rule without `from`, or a pod no policy selects).
ANYONE = "anyone"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


@dataclass(frozen=True)
class Pod:
    key: str
    """Kind/name of the workload the pod belongs to."""
    namespace: str
    labels: dict
    host_network: bool
    ports: frozenset[int]


@dataclass(frozen=True)
class Cluster:
    pods: tuple[Pod, ...]
    namespaces: dict[str, dict]
    """Namespace name to its labels, the one Kubernetes adds included."""
    policies: tuple[dict, ...]


def template_of(obj: dict) -> dict:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return obj["spec"]["template"]


def cluster_of(run) -> Cluster:
    pods, namespaces, policies = [], {}, []
    for resource in run.kubernetes_objects():
        obj = kubernetes_object(resource)
        kind, metadata = obj["kind"], obj["metadata"]
        if kind == "Namespace":
            namespaces[metadata["name"]] = {**metadata.get("labels", {}),
                                            "kubernetes.io/metadata.name": metadata["name"]}
        elif kind == "NetworkPolicy":
            policies.append(obj)
        elif kind in WORKLOAD_KINDS:
            template = template_of(obj)
            spec = template["spec"]
            ports = frozenset(port["containerPort"] for container in spec["containers"]
                              for port in container.get("ports", []))
            pods.append(Pod(f"{kind}/{metadata['name']}", metadata["namespace"],
                            template["metadata"]["labels"], bool(spec.get("hostNetwork")),
                            ports))
    return Cluster(tuple(pods), namespaces, tuple(policies))


def selects(selector: dict, labels: dict) -> bool:
    """Whether a Kubernetes label selector matches `labels` (an empty selector matches all)."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get(
            "values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def peers(cluster: Cluster, namespace: str, peer: dict) -> set[str]:
    """The pods one `from` entry admits. Pods on the host's network reach others from the
    node's address, which no pod or namespace selector matches."""
    if "ipBlock" in peer:
        return {f"ipBlock {peer['ipBlock']['cidr']}"}
    in_namespaces = ({namespace} if "namespaceSelector" not in peer else
                     {name for name, labels in cluster.namespaces.items()
                      if selects(peer["namespaceSelector"], labels)})
    pod_selector = peer.get("podSelector", {})
    return {pod.key for pod in cluster.pods
            if pod.namespace in in_namespaces and not pod.host_network
            and selects(pod_selector, pod.labels)}


def admitted(cluster: Cluster, pod: Pod) -> tuple[set[str], set[int] | str]:
    """Who may connect to `pod`, and on which ports (ANYONE: not limited)."""
    governing = [policy for policy in cluster.policies
                 if policy["metadata"]["namespace"] == pod.namespace
                 and "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
                 and selects(policy["spec"]["podSelector"], pod.labels)]
    if not governing:
        return {ANYONE}, ANYONE
    sources: set[str] = set()
    ports: set[int] = set()
    for policy in governing:
        for rule in policy["spec"].get("ingress") or []:
            if "from" not in rule:
                sources.add(ANYONE)
            for peer in rule.get("from", []):
                sources |= peers(cluster, pod.namespace, peer)
            ports |= {port["port"] for port in rule.get("ports", [])}
    return sources, ports


@pytest.fixture(scope="module")
def cluster(program_run) -> Cluster:
    return cluster_of(program_run("local-demo", boincAccountKey=BOINC_TEST_KEY,
                                  mongoShards="3"))


def pod(cluster: Cluster, key: str) -> Pod:
    (found,) = [candidate for candidate in cluster.pods if fnmatch.fnmatchcase(candidate.key,
                                                                               key)]
    return found


def keys(cluster: Cluster, *patterns: str) -> set[str]:
    found = {p.key for p in cluster.pods
             if any(fnmatch.fnmatchcase(p.key, pattern) for pattern in patterns)}
    assert all(any(fnmatch.fnmatchcase(key, pattern) for key in found) for pattern in patterns), (
        patterns, found)
    return found


def sources(cluster: Cluster, key: str) -> set[str]:
    return admitted(cluster, pod(cluster, key))[0]


MONGOD = ("StatefulSet/mongo-cfg", "StatefulSet/mongo-shard0", "StatefulSet/mongo-shard1",
          "StatefulSet/mongo-shard2")
MONGO_INIT_JOBS = ("Job/mongo-cfg-init", "Job/mongo-shard0-init", "Job/mongo-shard1-init",
                   "Job/mongo-shard2-init", "Job/mongo-cluster-init")
WRK = ("CronJob/benchmark", "Job/benchmark-up-*")


def test_the_render_has_the_pods_this_test_reasons_about(cluster):
    keys(cluster, *MONGOD, *MONGO_INIT_JOBS, *WRK, "Deployment/mongos", "Deployment/countly-*",
         "Job/countly-app-init", "Deployment/boinc", "StatefulSet/prometheus",
         "Deployment/grafana", "Deployment/pushgateway", "Deployment/kube-state-metrics",
         "Deployment/blackbox-exporter", "DaemonSet/node-exporter")


@pytest.mark.parametrize("member", MONGOD)
def test_mongod_admits_its_members_mongos_and_the_init_jobs_only(cluster, member):
    assert sources(cluster, member) == {*MONGOD, "Deployment/mongos", *MONGO_INIT_JOBS}
    assert admitted(cluster, pod(cluster, member))[1] == {27017}


def test_mongos_admits_the_init_jobs_and_countlys_database_clients_only(cluster):
    # Countly's dashboard reads the data itself, so it connects to mongos like the API does.
    assert sources(cluster, "Deployment/mongos") == {
        *MONGO_INIT_JOBS, "Deployment/countly-api", "Deployment/countly-frontend",
        "Job/countly-app-init"}
    assert admitted(cluster, pod(cluster, "Deployment/mongos"))[1] == {27017}


def test_countly_api_admits_the_gateway_the_benchmark_and_the_probes(cluster):
    api = sources(cluster, "Deployment/countly-api")
    assert keys(cluster, "Deployment/countly-gateway", *WRK, "Deployment/blackbox-exporter",
                "StatefulSet/prometheus") <= api
    assert ANYONE not in api
    # nothing from the background namespace, nor from the host's network
    assert not api & keys(cluster, "Deployment/boinc", "DaemonSet/node-exporter")


def test_countly_dashboard_admits_the_gateway_only_and_the_gateway_anyone(cluster):
    assert sources(cluster, "Deployment/countly-frontend") == {"Deployment/countly-gateway"}
    assert sources(cluster, "Deployment/countly-gateway") == {ANYONE}
    assert admitted(cluster, pod(cluster, "Deployment/countly-gateway"))[1] == {8080}


@pytest.mark.parametrize("exporter", ["Deployment/kube-state-metrics",
                                      "Deployment/blackbox-exporter"])
def test_exporters_admit_prometheus_only(cluster, exporter):
    assert sources(cluster, exporter) == {"StatefulSet/prometheus"}


@pytest.mark.parametrize("service", ["StatefulSet/prometheus", "Deployment/grafana",
                                     "Deployment/pushgateway"])
def test_what_people_and_other_namespaces_reach_admits_anyone_on_its_port(cluster, service):
    served, ports = admitted(cluster, pod(cluster, service))
    assert served == {ANYONE}
    assert ports == set(pod(cluster, service).ports)


@pytest.mark.parametrize("client", [*MONGO_INIT_JOBS, *WRK, "Job/countly-app-init",
                                    "Deployment/boinc"])
def test_what_only_connects_out_admits_nothing(cluster, client):
    assert sources(cluster, client) == set()


def test_every_pod_is_governed_and_its_rules_name_ports_it_serves(cluster):
    for candidate in cluster.pods:
        if candidate.host_network:
            continue  # policies do not apply on the host's network
        served, ports = admitted(cluster, candidate)
        assert ports != ANYONE, f"{candidate.key}: no NetworkPolicy selects it"
        assert ports <= candidate.ports, (candidate.key, ports, candidate.ports)


def test_a_label_changed_on_one_side_only_changes_who_is_admitted(cluster):
    renamed = tuple(
        Pod(p.key, p.namespace, {**p.labels, "app.kubernetes.io/component": "router"},
            p.host_network, p.ports) if p.key == "Deployment/mongos" else p
        for p in cluster.pods)
    changed = Cluster(renamed, cluster.namespaces, cluster.policies)
    assert "Deployment/mongos" not in sources(changed, "StatefulSet/mongo-shard0")
    assert admitted(changed, pod(changed, "Deployment/mongos"))[0] == {ANYONE}
