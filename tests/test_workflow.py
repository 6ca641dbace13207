"""The GitHub Actions workflow: its shape, its credentials, its shell, and the cncfdemo options it
uses. actionlint is not packaged for Debian or PyPI (its PyPI wrapper downloads the binary from
GitHub at build time, which this environment cannot reach), so its main checks are done here:
the YAML, the expressions kept out of shell code, and every `run:` script through shellcheck.
Scripts whose failure handling matters are also run here, by bash invoked exactly as the runner
invokes it, with fake `pulumi` and `cncfdemo` commands."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import require_tool

from cncfdemo import cost
from cncfdemo.cli import main
from cncfdemo.stackconfig import PROJECT_ROOT, available_stacks
from stacks.cluster import not_built

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "stacks.yml"
SECRETS = {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "AWS_ROLE_ARN", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY"}
# The command a Linux runner runs a `run:` script with, by the shell in force (GitHub's workflow
# syntax, `jobs.<job_id>.steps[*].shell`); with none named it is `bash -e`, without pipefail.
GITHUB_SHELLS = {None: "bash -e {0}", "bash": "bash --noprofile --norc -eo pipefail {0}"}
# what a job that changes a stack must queue behind, per stack
STACK_CHANGES = ("pulumi up", "pulumi destroy", "cncfdemo benchmark")


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


def shell_of(workflow: dict, job: str, step: dict) -> list[str]:
    """The runner's command line for the step's script, `{0}` standing for the script."""
    def default(spec: dict) -> str | None:
        return ((spec.get("defaults") or {}).get("run") or {}).get("shell")

    named = step.get("shell") or default(workflow["jobs"][job]) or default(workflow)
    assert named in GITHUB_SHELLS, f"job {job}: shell {named!r} is not one these tests know"
    return GITHUB_SHELLS[named].split()


def set_options(command: list[str]) -> str:
    """The `set` line equal to the command's options (`-eo pipefail`), for a script checked on
    its own; the long options (`--norc`) only matter when bash starts."""
    options = command[1:command.index("{0}")]
    return "set " + " ".join(o for o in options if not o.startswith("--"))


def run_step(workflow: dict, job: str, step: dict, folder: Path,
             env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the step's script in `folder` the way the runner would, fakes first on the PATH."""
    script = folder / "step.sh"
    script.write_text(step["run"])
    command = [str(script) if arg == "{0}" else arg for arg in shell_of(workflow, job, step)]
    command[0] = require_tool(command[0])
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=60, env={
        "PATH": f"{folder / 'fakes'}:{os.environ['PATH']}", "RUNNER_TEMP": str(folder / "tmp"),
        **env})


def fake(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


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


def test_every_script_runs_in_bash_with_pipefail(workflow):
    """GitHub's default `bash -e` would let `pulumi preview ... | tee` pass when preview fails."""
    assert workflow["defaults"] == {"run": {"shell": "bash"}}
    for job, spec in workflow["jobs"].items():
        for step in spec["steps"]:
            if "run" in step:
                assert shell_of(workflow, job, step) == [
                    "bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"], (job, step)


def test_every_script_passes_shellcheck(workflow, tmp_path):
    shellcheck = require_tool("shellcheck")
    for index, (job, spec) in enumerate(workflow["jobs"].items()):
        for number, step in enumerate(s for s in spec["steps"] if "run" in s):
            script = step["run"]
            path = tmp_path / f"{job}-{index}-{number}.sh"
            path.write_text(f"#!/usr/bin/env bash\n{set_options(shell_of(workflow, job, step))}\n"
                            + script)
            done = subprocess.run([shellcheck, "--shell=bash", str(path)], capture_output=True,
                                  text=True)
            assert done.returncode == 0, f"job {job}:\n{script}\n{done.stdout}"


# fakes for the pulumi CLI's subcommands the preview step runs; PREVIEW_SAYS is what preview
# prints, PREVIEW_EXIT its exit code
FAKE_PULUMI = """case "$1" in
  login|stack) exit 0 ;;
  preview) echo "$PREVIEW_SAYS"; exit "$PREVIEW_EXIT" ;;
esac
exit 99
"""


@pytest.mark.parametrize(("says", "code", "passes"), [
    ("error: the AWS provider refused the credentials", 1, False),
    (str(not_built("equinix")), 255, True),
    (str(not_built("azure")), 255, True),
    ("Resources: 93 to create", 0, True),
])
def test_a_failed_preview_fails_its_step(workflow, tmp_path, says, code, passes):
    """Run through the workflow's own shell: under plain `bash -e` every case would pass."""
    fake(tmp_path / "fakes", "pulumi", FAKE_PULUMI)
    step = step_running(workflow, "preview", "pulumi preview")
    done = run_step(workflow, "preview", step, tmp_path, {
        "STACK": "aws-demo", "PULUMI_BACKEND_URL": "file://x", "PREVIEW_SAYS": says,
        "PREVIEW_EXIT": str(code)})
    assert (done.returncode == 0) is passes, done.stdout + done.stderr
    assert says in (tmp_path / "preview.log").read_text()


def test_only_unbuilt_stacks_may_fail_their_render_or_preview():
    """The workflow tells an unbuilt provider's stop apart by the words cncfdemo cost uses."""
    phrases = set(re.findall(r'grep -q "([^"]+)"', WORKFLOW.read_text()))
    assert phrases == {cost.NOT_BUILT}
    for provider in ("azure", "gcp", "equinix"):
        assert cost.NOT_BUILT in str(not_built(provider)), provider


# what the run job's result steps do when cncfdemo fails half-way: FAKE_OUTCOME is ok or fail
FAKE_CNCFDEMO = """command=$1; shift
while [ $# -gt 0 ]; do
  case "$1" in --out) out=$2; shift ;; --save-html) html=$2; shift ;; esac
  shift
done
case "$command" in
  cost)
    printf '{"stack": '
    if [ "$FAKE_OUTCOME" = ok ]; then echo '"aws-demo"}'; else exit 1; fi ;;
  benchmark)
    printf '{"kind": ' > "$out"
    if [ "$FAKE_OUTCOME" = ok ]; then
      echo '"cncfdemo-benchmark"}' >> "$out"; echo '<html></html>' > "$html"
    else
      exit 1
    fi ;;
esac
"""


@pytest.mark.parametrize("outcome", ["ok", "fail"])
@pytest.mark.parametrize(("name", "kind"), [("Cost", "cost"), ("Benchmark", "benchmark")])
def test_results_are_moved_into_place_only_on_success(workflow, tmp_path, name, kind, outcome):
    """A half-written results file would make `compare` fail on the whole report."""
    fake(tmp_path, ".venv/bin/cncfdemo", FAKE_CNCFDEMO)
    (tmp_path / "tmp").mkdir()
    step = next(s for s in steps(workflow, "run") if s.get("name") == name)
    done = run_step(workflow, "run", step, tmp_path, {
        "STACK": "aws-demo", "BENCHMARK_TIME": "5m", "FAKE_OUTCOME": outcome})
    saved = tmp_path / "results" / f"aws-demo.{kind}.json"
    if outcome == "ok":
        assert done.returncode == 0, done.stdout + done.stderr
        assert saved.read_text() in ('{"stack": "aws-demo"}\n',
                                     '{"kind": "cncfdemo-benchmark"}\n')
    else:
        assert done.returncode != 0
        assert not saved.exists(), saved.read_text()


def test_jobs_that_change_a_stack_queue_per_stack(workflow):
    """Two runs on one stack would race for its state lock, or destroy what the other uses."""
    changing = [job for job, spec in workflow["jobs"].items()
                if any(command in step.get("run", "") for step in spec["steps"]
                       for command in STACK_CHANGES)]
    assert changing == ["run"]
    for job in changing:
        spec = workflow["jobs"][job]
        assert "matrix.stack" in spec["env"]["STACK"]
        assert spec["concurrency"] == {"group": "stack-${{ matrix.stack }}",
                                       "cancel-in-progress": False}


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
