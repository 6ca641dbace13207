"""The node image template: valid for packer, and running the very install script cloud-init runs.

`packer validate` runs fully (not -syntax-only): Debian's packer 1.6.6 bundles the amazon builder
and validates the template without reaching AWS. python-hcl2 parses it for the assertions below.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import hcl2
import pytest
from conftest import require_tool

import cloud_init
from stacks.settings import KEYS

TEMPLATE = cloud_init.HERE.parent / "packer" / "node-image.pkr.hcl"
PREBUILT_MARKER = "/etc/cncfdemo/image-prebuilt"


@pytest.fixture(scope="module")
def template() -> dict:
    options = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False,
                                        explicit_blocks=False)
    return hcl2.loads(TEMPLATE.read_text(), serialization_options=options)


def packer(*args: str, cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    tool = require_tool("packer")
    # no update check, no plugin or config lookups in the user's home
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "PACKER_CONFIG_DIR": str(tmp_path),
           "HOME": str(tmp_path)}
    return subprocess.run([tool, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


def test_packer_validates_the_template(tmp_path):
    result = packer("validate", str(TEMPLATE), cwd=TEMPLATE.parent.parent, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_packer_validates_with_another_version_and_region(tmp_path):
    result = packer("validate", "-var", "kubernetes_version=1.36.1", "-var",
                    "region=eu-west-1", str(TEMPLATE), cwd=tmp_path, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_packer_rejects_a_broken_template(tmp_path):
    broken = tmp_path / "broken.pkr.hcl"
    broken.write_text(TEMPLATE.read_text().replace('source "amazon-ebs" "node" {',
                                                   'source "amazon-ebs" "node" {\n  regoin = 1'))
    result = packer("validate", str(broken), cwd=tmp_path, tmp_path=tmp_path)
    assert result.returncode != 0


def test_no_required_plugins_block(template):
    # packer 1.6.6 fails on a packer { required_plugins { ... } } block (FACTS.md); the amazon
    # builder is bundled there
    assert "packer" not in template


def test_variables_for_version_and_region_default_to_the_stack_defaults(template):
    variables = {name: body for block in template["variable"] for name, body in block.items()}
    assert variables["kubernetes_version"]["default"] == KEYS["kubernetesVersion"].default
    assert variables["region"]["default"]


def test_source_is_amazon_ebs_from_official_debian(template):
    (source,) = template["source"]
    node = source["amazon-ebs"]["node"]
    assert node["region"] == "${var.region}"
    assert "${var.kubernetes_version}" in node["ami_name"]
    (ami_filter,) = node["source_ami_filter"]
    assert ami_filter["owners"] == ["${var.source_image_owner}"]
    (disk,) = node["launch_block_device_mappings"]
    assert disk["encrypted"] is True


def provisioners(template: dict) -> list[tuple[str, dict]]:
    (build,) = template["build"]
    assert build["sources"] == ["source.amazon-ebs.node"]
    return [(kind, body) for block in build["provisioner"] for kind, body in block.items()]


def test_build_uploads_the_shared_install_script(template):
    (local_block,) = template["locals"]
    script = local_block["install_script"].replace("${path.root}", str(TEMPLATE.parent))
    assert Path(script).resolve() == (cloud_init.SCRIPTS_DIR / "install-kubernetes.sh")
    kinds = [kind for kind, _ in provisioners(template)]
    assert kinds == ["file", "shell"]
    file_step = provisioners(template)[0][1]
    assert file_step["source"] == "${local.install_script}"


def test_build_runs_the_script_with_the_version_and_marks_the_image_prebuilt(template):
    (_, upload), (_, shell) = provisioners(template)
    assert shell["environment_vars"] == ["KUBERNETES_VERSION=${var.kubernetes_version}"]
    installed = f"{cloud_init.LIB_DIR}/install-kubernetes.sh"
    commands = shell["inline"]
    assert any(upload["destination"] in c and installed in c for c in commands)
    assert installed in commands
    assert f"touch {PREBUILT_MARKER}" in commands
    assert commands.index(installed) < commands.index(f"touch {PREBUILT_MARKER}")


def test_prebuilt_marker_is_what_the_install_unit_skips_on():
    unit = (cloud_init.UNITS_DIR / cloud_init.INSTALL_UNIT).read_text()
    assert re.search(rf"^ConditionPathExists=!{re.escape(PREBUILT_MARKER)}$", unit, re.M)


def test_inline_commands_pass_shellcheck(template, tmp_path):
    (_, _), (_, shell) = provisioners(template)
    script = tmp_path / "inline.sh"
    script.write_text("#!/bin/sh\nset -e\n" + "\n".join(shell["inline"]) + "\n")
    result = subprocess.run([require_tool("shellcheck"), str(script)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_image_starts_from_the_stock_image_the_aws_stack_boots_without_it(template):
    # both paths (prebuilt image, install at boot) must run the install script on the same OS
    from components.aws import image

    variables = {name: body for block in template["variable"] for name, body in block.items()}
    (source,) = template["source"]
    (ami_filter,) = source["amazon-ebs"]["node"]["source_ami_filter"]
    name = (ami_filter["filters"]["name"]
            .replace("${var.debian_release}", variables["debian_release"]["default"])
            .replace("${local.debian_arch}", "amd64"))
    assert name == image.DEBIAN_NAME.format(arch="amd64")
    assert variables["source_image_owner"]["default"] == image.DEBIAN_OWNER
