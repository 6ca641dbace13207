"""The MongoDB scripts: valid JavaScript (node --check), shipped as rendered, fed what they read."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from conftest import require_tool

from components.workloads.mongodb.pods import SCRIPTS, SCRIPTS_DIR

SCRIPT_NAMES = sorted(path.name for path in SCRIPTS.glob("*.js"))
# env('NAME') without a fallback, and the secret-file readers: what a script cannot run without.
REQUIRED_ENV = re.compile(r"""\b(?:env|secretFile|keyfileContent)\('([A-Z_]+)'\)""")


def node_check(path) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("node"), "--check", str(path)], capture_output=True,
                          text=True, timeout=60)


def test_the_scripts_are_there():
    assert {"lib.js", "replicaset-init.js", "cluster-init.js", "wait-for-mongos.js",
            "countly-app.js"} <= set(SCRIPT_NAMES)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_passes_a_javascript_syntax_check(name):
    result = node_check(SCRIPTS / name)
    assert result.returncode == 0, f"{name}: {result.stderr}"


def test_the_syntax_check_catches_a_broken_script(tmp_path):
    broken = tmp_path / "broken.js"
    text = (SCRIPTS / "cluster-init.js").read_text()
    broken.write_text(text.replace("for (const", "for (const {"))
    assert node_check(broken).returncode != 0


def test_the_rendered_config_map_holds_exactly_the_repository_scripts(rendered):
    folder = rendered("local-demo") / "files" / "demo" / "mongo-scripts"
    shipped = {path.name: path.read_text() for path in folder.iterdir()}
    assert shipped == {name: (SCRIPTS / name).read_text() for name in SCRIPT_NAMES}
    for path in folder.iterdir():
        assert node_check(path).returncode == 0, path.name


def test_only_the_library_sleeps_and_only_between_polls():
    """Waiting is polling with a deadline (lib.js waitFor), never a fixed sleep in a script."""
    for name in SCRIPT_NAMES:
        text = (SCRIPTS / name).read_text()
        calls = re.findall(r"\bsleep\(", text)
        assert len(calls) == (1 if name == "lib.js" else 0), name
    waiter = (SCRIPTS / "lib.js").read_text().split("function waitFor", 1)[1]
    assert "deadline" in waiter and "sleep(POLL_INTERVAL_MS)" in waiter


def _containers_running(rendered_folder, script: str):
    for path in (rendered_folder / "manifests").glob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        template = (obj.get("spec") or {}).get("template")
        if not template:
            continue
        spec = template["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            if f"{SCRIPTS_DIR}/{script}" in container.get("command", []):
                yield path.name, spec, container


@pytest.mark.parametrize("script", [name for name in SCRIPT_NAMES if name != "lib.js"])
def test_every_container_running_a_script_gives_it_what_it_needs(rendered, script):
    folder = rendered("local-demo")
    required = set(REQUIRED_ENV.findall((SCRIPTS / script).read_text()))
    runs = list(_containers_running(folder, script))
    assert runs, f"nothing runs {script}"
    for manifest, spec, container in runs:
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert required <= set(env), f"{manifest} lacks {required - set(env)} for {script}"
        assert env["SCRIPTS_DIR"] == SCRIPTS_DIR
        # the files the *_FILE and *_PATH variables name are mounted
        mounts = [mount["mountPath"] for mount in container["volumeMounts"]]
        for name, value in env.items():
            if name.endswith(("_FILE", "_PATH")):
                assert any(value.startswith(mount + "/") for mount in mounts), (manifest, name)
        volumes = {volume["name"] for volume in spec["volumes"]}
        assert {mount["name"] for mount in container["volumeMounts"]} <= volumes, manifest
