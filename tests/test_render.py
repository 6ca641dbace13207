"""`cncfdemo render`: the files it writes, its errors, and that no secret leaves in clear."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import STACKS_THAT_RENDER

from cncfdemo import harness, render
from cncfdemo.masking import Masker, marker

OUTPUT_NAMES = {
    "clusterName", "provider", "region", "kubernetesVersion", "apiEndpoint", "kubeconfig",
    "nodeGroups", "countlyUrl", "grafanaUrl", "grafanaAdminPassword", "prometheusUrl",
    "pushgatewayUrl", "benchmark",
}


def cncfdemo(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cncfdemo", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def all_text(folder: Path) -> dict[Path, str]:
    return {p: p.read_text() for p in folder.rglob("*") if p.is_file()}


def test_render_command_writes_the_design_layout(tmp_path):
    out = tmp_path / "render"
    result = cncfdemo("render", "--stack", "local-demo", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "local-demo:" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "cloud-init", "files", "graph.json", "manifests", "outputs.json"]
    graph = json.loads((out / "graph.json").read_text())
    assert graph and all(set(r) >= {"urn", "type", "name", "parent", "dependencies", "inputs"}
                         for r in graph)
    assert any(r["type"] == "cncfdemo:local:KindCluster" for r in graph)
    assert list((out / "manifests").glob("*.yaml"))


@pytest.mark.parametrize("stack", STACKS_THAT_RENDER)
def test_every_stack_exports_the_same_output_names(program_run, stack):
    run = program_run(stack)
    assert set(run.outputs) == OUTPUT_NAMES
    assert {"kubeconfig", "grafanaAdminPassword"} <= run.secret_outputs
    assert run.outputs["provider"] == stack.removesuffix("-demo")
    assert {g["role"] for g in run.outputs["nodeGroups"]} == {"masters", "minions"}
    assert all(set(g) >= {"role", "count", "machineType"} for g in run.outputs["nodeGroups"])


@pytest.mark.parametrize("stack", STACKS_THAT_RENDER)
def test_no_secret_is_written_in_clear(program_run, rendered, stack):
    run = program_run(stack)
    assert run.secret_values, "the program made no secrets at all?"
    mask = Masker(run.secret_values)
    leaks = {str(path): mask.leaks(text) for path, text in all_text(rendered(stack)).items()}
    assert {path: found for path, found in leaks.items() if found} == {}


def _scalars(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("stack", STACKS_THAT_RENDER)
def test_every_secret_value_of_a_manifest_is_a_marker(program_run, tmp_path, stack):
    # Checked apart from the masker: every string the program marked secret, however short,
    # must not stand as a value in a written manifest, and every Secret's data is a marker.
    run = program_run(stack, boincAccountKey="k3y9")
    out = render.write(run, tmp_path / "r")
    secret_leaves, plain_leaves = set(), set()
    for resource in run.kubernetes_objects():
        secret_leaves |= harness.secret_leaves(resource.inputs)
        plain_leaves |= set(_scalars(harness.unwrap(resource.inputs))) - harness.secret_leaves(
            resource.inputs)
    # A value the program also writes in clear (the user name "admin" is the admin database's
    # name too) is no secret; everything else marked secret must not stand in a manifest.
    secret_only = secret_leaves - plain_leaves
    # The key is too short for the text masker; it stands inside a longer secret value here.
    assert any("k3y9" in leaf for leaf in secret_leaves)
    for path in out.rglob("*"):
        if path.is_file():
            assert "k3y9" not in path.read_text(), path.relative_to(out)
    for path in (out / "manifests").glob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        assert not set(_scalars(obj)) & secret_only, path.name
        if obj["kind"] == "Secret":
            for key, value in {**obj.get("stringData", {}), **obj.get("data", {})}.items():
                plain_names = {"user", "username"}
                assert key in plain_names or value.startswith("MASKED"), (path.name, key)


def test_a_short_secret_standing_alone_is_masked_where_it_stands():
    # Too short for the text masker (it would hit innocent text), so it is replaced as a value.
    secret = {harness.SIG_KEY: harness.SECRET_SIG, "value": "k3y9"}
    resource = harness.Resource(
        urn="urn:pulumi:s::p::kubernetes:core/v1:Secret::boinc", type="kubernetes:core/v1:Secret",
        name="boinc", parent="", custom=True, dependencies=[], provider="",
        inputs={"kind": "Secret", "metadata": {"name": "boinc"},
                "stringData": {"key": secret, "note": "k3y9 in clear is not ours to mask"}})
    masked = render.masked_object(resource)
    assert masked["stringData"]["key"] == marker("k3y9")
    assert masked["stringData"]["note"] == "k3y9 in clear is not ours to mask"
    assert render.kubernetes_object(resource)["stringData"]["key"] == "k3y9"


def test_kubeconfig_output_is_masked_with_its_shape(program_run, rendered):
    run = program_run("local-demo")
    outputs = json.loads((rendered("local-demo") / "outputs.json").read_text())
    assert outputs["kubeconfig"] == marker(run.outputs["kubeconfig"])
    assert len(outputs["kubeconfig"]) == len(run.outputs["kubeconfig"])


def _render_project_copy(tmp_path: Path, project_root: Path, stack_file: str):
    """Render the stack `test-demo` of a copy of the project given `stack_file`; the command's
    result and the folder it was asked to write."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(project_root / "Pulumi.yaml", project)
    shutil.copy(project_root / "__main__.py", project)
    (project / "Pulumi.test-demo.yaml").write_text(stack_file)
    out = tmp_path / "out"
    result = cncfdemo("--project-dir", str(project), "render", "--stack", "test-demo",
                      "--out", str(out))
    return result, out


def test_encrypted_config_values_are_secrets(tmp_path, project_root):
    result, out = _render_project_copy(tmp_path, project_root, (
        "config:\n"
        "  cncfdemo:provider: local\n"
        "  cncfdemo:masterSize: kind-node\n"
        "  cncfdemo:minionSize: kind-node\n"
        "  cncfdemo:apiAllowedCidrs: [127.0.0.1/32]\n"
        "  cncfdemo:boincAccountKey:\n"
        "    secure: v1:c2VjcmV0LWJ1dC1lbmNyeXB0ZWQ=:AAAAAAAAAAAA\n"
    ))
    assert result.returncode == 0, result.stderr
    # the encrypted key was read (BOINC is deployed with it), yet never written
    assert (out / "manifests" / "background.deployment.boinc.yaml").exists()
    assert "boincAccountKey is not set" not in result.stderr
    for path, text in all_text(out).items():
        assert "encrypted-config-value" not in text, path
        assert "c2VjcmV0LWJ1dC1lbmNyeXB0ZWQ" not in text, path


def test_render_replaces_an_earlier_render_but_never_a_foreign_folder(tmp_path):
    out = tmp_path / "render"
    assert cncfdemo("render", "--stack", "local-demo", "--out", str(out)).returncode == 0
    (out / "manifests" / "stale.yaml").write_text("kind: Stale\n")
    assert cncfdemo("render", "--stack", "local-demo", "--out", str(out)).returncode == 0
    assert not (out / "manifests" / "stale.yaml").exists()

    (out / "notes.txt").write_text("mine")
    result = cncfdemo("render", "--stack", "local-demo", "--out", str(out))
    assert result.returncode != 0
    assert "notes.txt" in result.stderr and "nothing was replaced" in result.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert "Traceback" not in result.stderr

    result = cncfdemo("render", "--stack", "local-demo", "--out", ".", cwd=tmp_path)
    assert result.returncode != 0 and "render" in result.stderr
    assert (out / "notes.txt").exists()


def test_unknown_stack_is_a_clear_error(tmp_path):
    result = cncfdemo("render", "--stack", "nope-demo", "--out", str(tmp_path / "x"))
    assert result.returncode != 0
    assert "no stack 'nope-demo'" in result.stderr
    assert "local-demo" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_malformed_stack_file_is_a_clear_error(tmp_path, project_root):
    result, out = _render_project_copy(tmp_path, project_root,
                                       "config:\n  cncfdemo:provider: [local\n")
    assert result.returncode != 0
    assert "Pulumi.test-demo.yaml is not valid YAML at line" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_config_error_is_a_clear_error_without_output(tmp_path, project_root):
    result, out = _render_project_copy(tmp_path, project_root, (
        "config:\n"
        "  cncfdemo:provider: local\n"
        "  cncfdemo:masterSize: kind-node\n"
        "  cncfdemo:minionSize: kind-node\n"
        "  cncfdemo:masterCount: 2\n"
        "  cncfdemo:apiAllowedCidrs: [127.0.0.1/32]\n"
    ))
    assert result.returncode != 0
    assert "cncfdemo:masterCount" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
