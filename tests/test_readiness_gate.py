"""The readiness gate and the destroy-time release, run as the command provider runs them
(`/bin/sh -c <script>`, kubeconfig on standard input) with real kubectl against a fake API on
loopback (tests/fake_kube_api.py)."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from fake_kube_api import Endpoint, FakeCluster, fake_kube_api, kubeconfig

from components.aws.cloud_integration import RELEASE_SCRIPT
from components.aws.ebs_csi import DRIVER
from components.readiness import SCRIPT as GATE_SCRIPT


@pytest.fixture
def shell(tmp_path):
    """Runs a script like pulumi-command's local.Command, in a private HOME and TMPDIR."""
    kubectl = require_tool("kubectl")
    home = tmp_path / "home"
    temp = tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()

    def run(script: Path, server: Endpoint, token: str, **env: str) -> subprocess.CompletedProcess:
        environment = {
            "PATH": f"{Path(kubectl).parent}:/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(temp),
            **env,
        }
        return subprocess.run(["/bin/sh", "-c", script.read_text()],
                              input=kubeconfig(server, token), env=environment,
                              capture_output=True, text=True, timeout=120)

    run.temp = temp  # type: ignore[attr-defined]
    return run


def gate_env(nodes: int, api_timeout: int = 30, nodes_timeout: int = 30) -> dict[str, str]:
    return {"EXPECTED_NODES": str(nodes), "API_TIMEOUT": str(api_timeout),
            "NODES_TIMEOUT": str(nodes_timeout), "POLL_INTERVAL": "1"}


def test_gate_waits_for_readyz_then_for_every_node(shell):
    cluster = FakeCluster(readyz_failures=2)
    for index in range(3):
        cluster.add_node(f"i-0{index}", ready=True)
    token = secrets.token_hex(16)
    with fake_kube_api(cluster) as server:
        result = shell(GATE_SCRIPT, server, token, **gate_env(3))
    assert result.returncode == 0, result.stderr
    assert "API answers /readyz" in result.stdout
    assert "3 nodes Ready" in result.stdout
    assert cluster.requests.count("GET /readyz") == 3
    assert "GET /api/v1/nodes" in cluster.requests
    # kubectl read the kubeconfig from the file the script wrote, and nothing printed it
    assert set(cluster.authorizations) == {f"Bearer {token}"}
    assert token not in result.stdout + result.stderr
    assert list(shell.temp.iterdir()) == [], "the kubeconfig's temporary file was left behind"


def test_gate_names_the_node_step_that_did_not_finish(shell):
    cluster = FakeCluster()
    cluster.add_node("i-01", ready=True)
    cluster.add_node("i-02", ready=False)
    with fake_kube_api(cluster) as server:
        result = shell(GATE_SCRIPT, server, secrets.token_hex(8), **gate_env(3, nodes_timeout=2))
    assert result.returncode == 1
    assert "step '3 nodes Ready' did not finish within 2 s" in result.stderr
    assert "1 of 3 nodes Ready" in result.stderr
    assert list(shell.temp.iterdir()) == []


def test_gate_names_the_api_step_that_did_not_finish(shell):
    cluster = FakeCluster(readyz_failures=1000)
    with fake_kube_api(cluster) as server:
        result = shell(GATE_SCRIPT, server, secrets.token_hex(8), **gate_env(1, api_timeout=2))
    assert result.returncode == 1
    assert "step 'API answers /readyz' did not finish within 2 s" in result.stderr
    assert "GET /api/v1/nodes" not in cluster.requests


def test_gate_refuses_an_empty_kubeconfig(tmp_path):
    result = subprocess.run(["/bin/sh", "-c", GATE_SCRIPT.read_text()], input="",
                            env={**gate_env(1), "PATH": os.environ["PATH"],
                                 "TMPDIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "no kubeconfig on standard input" in result.stderr


def release_env(timeout: int = 30) -> dict[str, str]:
    return {"RELEASE_TIMEOUT": str(timeout), "CSI_DRIVER": DRIVER, "POLL_INTERVAL": "1"}


def test_release_deletes_load_balancers_and_claims_and_waits_for_volumes(shell):
    cluster = FakeCluster(volumes_linger=2)
    cluster.add_service("demo", "countly", "LoadBalancer")
    cluster.add_service("monitoring", "grafana", "LoadBalancer")
    cluster.add_service("demo", "mongos", "ClusterIP")
    cluster.add_claim("demo", "data-shard0-0", DRIVER)
    cluster.add_claim("demo", "data-shard1-0", DRIVER)
    token = secrets.token_hex(16)
    with fake_kube_api(cluster) as server:
        result = shell(RELEASE_SCRIPT, server, token, **release_env())
    assert result.returncode == 0, result.stderr
    assert cluster.names("services") == ["mongos"]
    assert cluster.names("persistentvolumeclaims") == []
    assert cluster.names("persistentvolumes") == []
    assert "no load balancer or volume made by Kubernetes is left" in result.stdout
    assert token not in result.stdout + result.stderr
    assert list(shell.temp.iterdir()) == []


def test_release_fails_when_volumes_outlive_the_timeout(shell):
    cluster = FakeCluster(volumes_linger=1000)
    cluster.add_claim("demo", "data-shard0-0", DRIVER)
    with fake_kube_api(cluster) as server:
        result = shell(RELEASE_SCRIPT, server, secrets.token_hex(8), **release_env(timeout=2))
    assert result.returncode == 1
    assert f"1 {DRIVER} volumes still exist" in result.stderr


def test_release_lets_destroy_go_on_when_the_api_is_gone(shell):
    cluster = FakeCluster(readyz_failures=1000)
    with fake_kube_api(cluster) as server:
        result = shell(RELEASE_SCRIPT, server, secrets.token_hex(8), **release_env())
    assert result.returncode == 0
    assert "the API does not answer" in result.stderr
    assert [r for r in cluster.requests if r.startswith("DELETE")] == []
