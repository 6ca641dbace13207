"""The project's own entry points: the README's two commands and CI's script."""

from __future__ import annotations

import os
import shutil
import subprocess

import yaml


def test_ci_runs_the_readme_test_command(project_root):
    script = (project_root / ".ci" / "run").read_text()
    assert "make test" in script
    assert "make test" in (project_root / "README.md").read_text()


def _tool_dir(tmp_path, fakes: dict[str, str]):
    """A PATH with make, a shell and python, plus fake commands that log how they were called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "python3", "bash", "sh", "env", "sed", "tr", "ls", "mkdir", "id"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    log = tmp_path / "calls.log"
    for name, line in fakes.items():
        fake = bin_dir / name
        fake.write_text(f"#!/bin/sh\necho \"{line}\" >> {log}\n")
        fake.chmod(0o755)
    return bin_dir, log


def _make_up(project_root, tmp_path, bin_dir, *args, passphrase=None):
    env = {k: v for k, v in os.environ.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    env["PATH"] = str(bin_dir)
    if passphrase:
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
    # a venv and a state folder of the test's own, and pip replaced by a fake: nothing real moves
    return subprocess.run(
        ["make", "-s", "up", f"VENV={tmp_path / 'venv'}", f"STATE_DIR={tmp_path / 'state'}",
         f"PIP={bin_dir / 'pip'}", *args],
        cwd=project_root, env=env, capture_output=True, text=True, timeout=120)


def test_make_up_without_pulumi_says_how_to_install_it(project_root, tmp_path):
    bin_dir, log = _tool_dir(tmp_path, {"pip": "pip $*"})
    result = _make_up(project_root, tmp_path, bin_dir)
    assert result.returncode != 0
    assert "pulumi CLI is not installed" in result.stderr
    # it stops before touching anything: no venv, no state, no install
    assert not (tmp_path / "venv").exists() and not (tmp_path / "state").exists()
    assert not log.exists()


def test_make_up_refuses_a_cloud_stack_without_a_passphrase_of_your_own(project_root, tmp_path):
    bin_dir, log = _tool_dir(tmp_path, {"pulumi": "pulumi $*", "pip": "pip $*"})
    result = _make_up(project_root, tmp_path, bin_dir, "STACK=aws-demo")
    assert result.returncode != 0
    assert "export PULUMI_CONFIG_PASSPHRASE" in result.stderr
    assert not log.exists() and not (tmp_path / "venv").exists()


def test_make_up_installs_the_stacks_provider_and_keeps_state_in_the_project(project_root,
                                                                           tmp_path):
    bin_dir, log = _tool_dir(tmp_path, {
        "pulumi": "pulumi $PULUMI_BACKEND_URL $PULUMI_CONFIG_PASSPHRASE $*", "pip": "pip $*"})
    # the venv exists already (making one is python's business, not this target's)
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "activate").touch()
    result = _make_up(project_root, tmp_path, bin_dir, "STACK=aws-demo", passphrase="mine")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    backend = f"file://{tmp_path / 'state'}"
    assert calls[-3:] == [
        "pip install --quiet -e .[aws,benchmark]",
        f"pulumi {backend} mine stack select --create aws-demo --non-interactive",
        f"pulumi {backend} mine up --stack aws-demo --yes --non-interactive --skip-preview",
    ]
    # never `pulumi login`: that would move every other project on the machine to this backend
    assert not any(" login" in call for call in calls)


def test_make_up_local_needs_kind_and_kubectl(project_root, tmp_path):
    bin_dir, log = _tool_dir(tmp_path, {"pulumi": "pulumi $*", "pip": "pip $*"})
    result = _make_up(project_root, tmp_path, bin_dir)
    assert result.returncode != 0
    assert "kind is needed for the local stack" in result.stderr
    assert not log.exists()


def test_every_stack_file_names_a_provider_and_sizes(project_root):
    for path in project_root.glob("Pulumi.*-demo.yaml"):
        config = yaml.safe_load(path.read_text())["config"]
        assert config["cncfdemo:provider"] == path.name.split(".")[1].removesuffix("-demo")
        assert config["cncfdemo:masterSize"] and config["cncfdemo:minionSize"], path.name
        assert config["cncfdemo:apiAllowedCidrs"], path.name
