"""The local stack: a kind cluster created and deleted by the stack, or an existing context."""

from __future__ import annotations

import pytest
import yaml


def _commands(run):
    return {r.name: r for r in run.of_type("command:local:Command")}


def test_kind_cluster_is_created_and_deleted_by_the_stack(program_run):
    run = program_run("local-demo")
    create = _commands(run)["local-demo-kind"].plain_inputs
    assert create["create"].startswith("kind create cluster --name local-demo --config -")
    assert create["delete"] == "kind delete cluster --name local-demo"

    config = yaml.safe_load(create["stdin"])
    roles = [node["role"] for node in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    assert {node["image"] for node in config["nodes"]} == {"kindest/node:v1.35.3"}
    assert config["networking"]["podSubnet"] == "192.168.0.0/16"
    assert config["networking"]["serviceSubnet"] == "10.96.0.0/12"
    published = {m["hostPort"] for m in config["nodes"][0]["extraPortMappings"]}
    assert published == {30080, 30030, 30090, 30091}
    assert all(m["listenAddress"] == "127.0.0.1" for m in config["nodes"][0]["extraPortMappings"])


def test_node_counts_and_image_follow_config(program_run):
    image = "kindest/node:v1.35.0@sha256:" + "a" * 64
    run = program_run("local-demo", masterCount="3", minionCount="4", localKindNodeImage=image)
    config = yaml.safe_load(_commands(run)["local-demo-kind"].plain_inputs["stdin"])
    roles = [node["role"] for node in config["nodes"]]
    assert roles.count("control-plane") == 3 and roles.count("worker") == 4
    assert {node["image"] for node in config["nodes"]} == {image}


def test_kubernetes_resources_wait_for_ready_nodes(program_run):
    run = program_run("local-demo")
    ready = _commands(run)["local-demo-ready"]
    assert "wait --for=condition=Ready nodes --all" in ready.plain_inputs["create"]
    provider = run.named("local-demo-k8s")
    assert ready.urn in provider.dependencies, provider.urn
    for resource in run.kubernetes_objects():
        assert resource.provider.startswith(provider.urn), resource.urn


def test_kubeconfig_is_secret_from_the_command_on(program_run):
    run = program_run("local-demo")
    assert "kubeconfig" in run.secret_outputs
    provider = run.named("local-demo-k8s")
    assert provider.inputs["kubeconfig"]["4dabf18193072939515e22adb298388d"]
    assert _commands(run)["local-demo-kubeconfig"].plain_inputs["logging"] == "stderr"


def test_existing_context_creates_no_kind_cluster(program_run, tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "lab", "cluster": {"server": "https://10.1.2.3:6443"}},
                     {"name": "prod", "cluster": {"server": "https://10.9.9.9:6443"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "me"}},
                     {"name": "other", "context": {"cluster": "prod", "user": "admin"}}],
        "users": [{"name": "me", "user": {"token": "not-a-real-token-0123456789"}},
                  {"name": "admin", "user": {"token": "production-token-9876543210"}}],
    }))
    run = program_run("local-demo", localKubeconfigContext="lab",
                      localKubeconfigPath=str(kubeconfig))
    assert run.of_type("command:local:Command") == []
    assert run.outputs["apiEndpoint"] == "https://10.1.2.3:6443"
    assert any("not-a-real-token-0123456789" in s for s in run.secret_values)
    provider = run.named("local-demo-k8s").plain_inputs
    assert provider["context"] == "lab"

    # only the chosen context reaches the provider (and state); the others stay in the file
    given = yaml.safe_load(provider["kubeconfig"])
    assert [c["name"] for c in given["contexts"]] == ["lab"]
    assert [c["name"] for c in given["clusters"]] == ["lab"]
    assert [u["name"] for u in given["users"]] == ["me"]
    assert "production-token-9876543210" not in provider["kubeconfig"]


def test_unknown_context_names_the_key(tmp_path):
    from cncfdemo import harness

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "me"}}],
    }))
    with pytest.raises(harness.ProgramError) as caught:
        harness.run_program("local-demo", overrides={
            "cncfdemo:localKubeconfigContext": "nope",
            "cncfdemo:localKubeconfigPath": str(kubeconfig),
        })
    assert "cncfdemo:localKubeconfigContext" in str(caught.value)
    assert "contexts: lab" in str(caught.value)
    assert caught.value.registered == []


def test_a_changed_kind_cluster_is_deleted_before_it_is_made_again(program_run):
    run = program_run("local-demo")
    cluster = _commands(run)["local-demo-kind"]
    assert cluster.options.get("deleteBeforeReplace") is True, cluster.urn


def test_missing_kubeconfig_file_names_the_key(tmp_path):
    from cncfdemo import harness

    with pytest.raises(harness.ProgramError) as caught:
        harness.run_program("local-demo", overrides={
            "cncfdemo:localKubeconfigContext": "lab",
            "cncfdemo:localKubeconfigPath": str(tmp_path / "absent")})
    assert "cncfdemo:localKubeconfigPath" in str(caught.value)
    assert caught.value.registered == []


@pytest.mark.parametrize(("what", "content"), [
    ("a folder", None), ("broken YAML", "contexts: [\n"), ("not a mapping", "- just a list\n"),
    ("not text", b"\xff\xfe\x00kubeconfig"),
])
def test_unreadable_kubeconfig_names_the_key(tmp_path, what, content):
    from cncfdemo import harness

    path = tmp_path / "config"
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(harness.ProgramError) as caught:
        harness.run_program("local-demo", overrides={
            "cncfdemo:localKubeconfigContext": "lab",
            "cncfdemo:localKubeconfigPath": str(path)})
    message = str(caught.value)
    assert "cncfdemo:localKubeconfigPath" in message and "cannot be read" in message, what
    assert "Traceback" not in message
    assert caught.value.registered == []
