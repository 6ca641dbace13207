"""The GitHub Actions workflow: its shape, its credentials, its shell, and the cncfdemo options it
uses. actionlint is not packaged for Debian or PyPI (its PyPI wrapper downloads the binary from
GitHub at build time, which this environment cannot reach), so its main checks are done here:
the YAML, the expressions kept out of shell code, and every `run:` script through shellcheck."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import require_tool

from cncfdemo.cli import main
from cncfdemo.stackconfig import PROJECT_ROOT, available_stacks

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "stacks.yml"
SECRETS = {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "AWS_ROLE_ARN", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY"}


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def triggers(workflow: dict) -> dict:
    # YAML 1.1 reads the bare key `on` as true
    return workflow.get("on", workflow.get(True))


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def runs(workflow: dict) -> list[tuple[str, str]]:
    return [(job, step["run"]) for job, spec in workflow["jobs"].items()
            for step in spec["steps"] if "run" in step]


def step_running(workflow: dict, job: str, command: str) -> dict:
    found = [s for s in steps(workflow, job) if command in s.get("run", "")]
    assert found, f"job {job} has no step running {command!r}"
    return found[0]


def test_pull_requests_preview_every_stack(workflow):
    assert "pull_request" in triggers(workflow)
    preview = workflow["jobs"]["preview"]
    assert preview["if"] == "github.event_name == 'pull_request'"
    assert sorted(preview["strategy"]["matrix"]["stack"]) == available_stacks()
    assert "pulumi preview --stack" in step_running(workflow, "preview", "pulumi preview")["run"]
    step_running(workflow, "preview", "cncfdemo cost")


def test_on_demand_runs_up_benchmark_cost_and_always_destroy(workflow):
    inputs = triggers(workflow)["workflow_dispatch"]["inputs"]
    assert inputs["stacks"]["required"] is True and inputs["stacks"]["type"] == "string"
    run = workflow["jobs"]["run"]
    assert run["needs"] == "plan"
    assert run["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.plan.outputs.stacks) }}"
    order = [s.get("name", s.get("uses")) for s in run["steps"]]
    for earlier, later in [("pulumi up", "Read the stack's outputs"), ("Read the stack's outputs",
                           "Benchmark"), ("Benchmark", "Cost"), ("Cost", "pulumi destroy")]:
        assert order.index(earlier) < order.index(later), (earlier, later)
    assert "pulumi stack output --json" in step_running(workflow, "run", "stack output")["run"]
    destroy = step_running(workflow, "run", "pulumi destroy")
    assert destroy["if"] == "always()"
    upload = [s for s in run["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload and upload[0]["if"] == "always()"


def test_the_report_is_an_artifact(workflow):
    compare = workflow["jobs"]["compare"]
    assert set(compare["needs"]) == {"plan", "run"} and "always()" in compare["if"]
    assert "cncfdemo compare" in step_running(workflow, "compare", "cncfdemo compare")["run"]
    uploads = [s["with"] for s in compare["steps"]
               if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads == [{"name": "comparison-report", "path": "report/"}]


def test_credentials_come_only_from_repository_secrets(workflow):
    text = WORKFLOW.read_text()
    assert set(re.findall(r"secrets\.(\w+)", text)) == SECRETS
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert workflow["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
    assert workflow["env"]["PULUMI_BACKEND_URL"] == "${{ secrets.PULUMI_BACKEND_URL }}"
    assert workflow["permissions"] == {"contents": "read"}
    # the OIDC token only where AWS is reached
    for job in ("preview", "run"):
        assert workflow["jobs"][job]["permissions"]["id-token"] == "write"
    assert "permissions" not in workflow["jobs"]["compare"]


def test_actions_are_pinned_to_a_release(workflow):
    uses = [s["uses"] for spec in workflow["jobs"].values() for s in spec["steps"] if "uses" in s]
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", action), action


def test_shell_code_takes_inputs_through_the_environment(workflow):
    """`${{ }}` inside a script is pasted in before the shell parses it (script injection)."""
    for job, script in runs(workflow):
        assert "${{" not in script, f"job {job} expands an expression inside its script"


def test_every_script_passes_shellcheck(workflow, tmp_path):
    shellcheck = require_tool("shellcheck")
    for index, (job, script) in enumerate(runs(workflow)):
        path = tmp_path / f"{job}-{index}.sh"
        path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + script)
        done = subprocess.run([shellcheck, "--shell=bash", str(path)], capture_output=True,
                              text=True)
        assert done.returncode == 0, f"job {job}:\n{script}\n{done.stdout}"


def test_the_cncfdemo_options_it_uses_exist(workflow):
    used = re.findall(r"cncfdemo (\w+)((?:[^\n]|\\\n)*)", "\n".join(s for _, s in runs(workflow)))
    assert {command for command, _ in used} == {"render", "cost", "benchmark", "compare"}
    runner = CliRunner()
    for command, rest in used:
        helped = runner.invoke(main, [command, "--help"])
        assert helped.exit_code == 0, helped.output
        for option in re.findall(r"(--[a-z-]+)", rest):
            assert option in helped.output, f"cncfdemo {command} has no {option}"


def test_the_workflow_file_is_where_github_reads_it():
    assert WORKFLOW.parent == Path(PROJECT_ROOT, ".github", "workflows")
    assert yaml.safe_load(WORKFLOW.read_text())["name"] == "stacks"
