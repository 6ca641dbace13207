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


def test_make_up_without_pulumi_says_how_to_install_it(project_root, tmp_path):
    # A PATH with make and python but no pulumi: the target must stop before touching anything.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "python3", "bash", "sh", "env"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}
    result = subprocess.run(["make", "-s", "up"], cwd=project_root, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "pulumi CLI is not installed" in result.stderr
    assert not (project_root / ".pulumi-state").exists() or os.listdir(project_root /
                                                                         ".pulumi-state") == []


def test_every_stack_file_names_a_provider_and_sizes(project_root):
    for path in project_root.glob("Pulumi.*-demo.yaml"):
        config = yaml.safe_load(path.read_text())["config"]
        assert config["cncfdemo:provider"] == path.name.split(".")[1].removesuffix("-demo")
        assert config["cncfdemo:masterSize"] and config["cncfdemo:minionSize"], path.name
        assert config["cncfdemo:apiAllowedCidrs"], path.name
