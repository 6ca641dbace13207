"""checkov over every rendered manifest: it passes, save the findings checkov-skips.yaml
accepts, each with its reason."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import BOINC_TEST_KEY

from cncfdemo.stackconfig import PROJECT_ROOT

SKIPS = PROJECT_ROOT / "checkov-skips.yaml"


def checkov() -> str:
    """checkov from its own virtual environment (`make deps-test` makes it), else from PATH."""
    local = PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov"
    if local.exists():
        return str(local)
    found = shutil.which("checkov")
    if found is None:
        pytest.fail("checkov is not installed; `make deps-test` installs it into .venv-checkov")
    return found


def accepted() -> list[dict]:
    return yaml.safe_load(SKIPS.read_text())["checks"]


def accepts(entry: dict, finding: dict) -> bool:
    if finding["check_id"] != entry["id"]:
        return False
    patterns = entry.get("resources")
    return patterns is None or any(fnmatch.fnmatchcase(finding["resource"], pattern)
                                   for pattern in patterns)


def test_every_accepted_check_has_a_reason():
    entries = accepted()
    assert entries
    for entry in entries:
        assert set(entry) <= {"id", "title", "reason", "resources"}, entry
        assert re.fullmatch(r"CKV2?_K8S_\d+", entry["id"]), entry
        assert entry.get("title"), entry["id"]
        reason = " ".join(str(entry.get("reason") or "").split())
        # a reason is a sentence or more, not a placeholder
        assert len(reason) >= 60 and reason.endswith("."), f"{entry['id']}: {reason!r}"
        if "resources" in entry:
            assert entry["resources"] and all(isinstance(r, str) for r in entry["resources"])
    ids = [entry["id"] for entry in entries]
    assert len(ids) == len(set(ids)), "one entry per check"


def run_checkov(manifests: Path) -> dict:
    """checkov's kubernetes report on one folder of manifests."""
    result = subprocess.run(
        [checkov(), "--directory", str(manifests), "--framework", "kubernetes",
         "--skip-download", "--quiet", "--output", "json"],
        capture_output=True, text=True, timeout=600,
    )
    # exit 1 means findings, anything else a checkov failure
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    reports = reports if isinstance(reports, list) else [reports]
    kubernetes = [report for report in reports if report.get("check_type") == "kubernetes"]
    assert kubernetes, result.stdout[:2000]
    assert kubernetes[0]["summary"]["passed"] > 0
    assert kubernetes[0]["summary"]["parsing_errors"] == 0
    return kubernetes[0]


# local-demo as configured, and with a BOINC account key: only then is BOINC deployed.
RENDERS = {"local-demo": {}, "local-demo with BOINC": {"boincAccountKey": BOINC_TEST_KEY}}


@pytest.fixture(scope="module")
def reports(rendered_with) -> dict[str, dict]:
    return {name: run_checkov(rendered_with("local-demo", **overrides) / "manifests")
            for name, overrides in RENDERS.items()}


@pytest.fixture(scope="module")
def findings(reports) -> list[dict]:
    return [finding for report in reports.values()
            for finding in report["results"]["failed_checks"]]


def test_checkov_saw_boinc(reports):
    checked = {result["resource"] for results in reports["local-demo with BOINC"][
        "results"].values() if isinstance(results, list) for result in results}
    assert "Deployment.background.boinc" in checked


def test_checkov_passes_on_the_rendered_manifests(findings):
    entries = accepted()
    open_findings = sorted(
        f"{finding['check_id']} {finding['resource'].split('.app.kubernetes.io')[0]} "
        f"({finding['check_name']}) in {finding['file_path'].lstrip('/')}"
        for finding in findings if not any(accepts(entry, finding) for entry in entries))
    assert open_findings == [], (
        "checkov findings that checkov-skips.yaml does not accept; fix them, or add an entry "
        "with its reason:\n" + "\n".join(open_findings))


def test_every_accepted_check_still_has_a_finding(findings):
    stale = [entry["id"] for entry in accepted()
             if not any(accepts(entry, finding) for finding in findings)]
    assert stale == [], f"remove these entries, nothing needs them any more: {stale}"
