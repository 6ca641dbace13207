"""The timing script `make bench` runs prints how long `cncfdemo cost` and `cncfdemo compare`
take for all five stacks; run once, at its quickest (one run per stack), it must print a figure
for each."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cncfdemo.stackconfig import PROJECT_ROOT, available_stacks

SCRIPT = PROJECT_ROOT / "scripts" / "bench_cost_compare.py"
SECONDS = r"\d+\.\d\d"


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def printed() -> str:
    done = bench("--repeat", "1")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cost_is_timed_for_every_stack(printed):
    assert printed.startswith("cncfdemo cost, 1 run per stack")
    stacks = available_stacks()
    assert len(stacks) == 5
    for stack in stacks:
        line = re.search(rf"^  {stack} +(graph|planned) +({SECONDS}) +({SECONDS}) +({SECONDS}) "
                         r"+(\d+\.\d\d)$", printed, re.M)
        assert line, f"no cost timing for {stack}:\n{printed}"
        median, fastest, slowest = (float(line.group(i)) for i in (2, 3, 4))
        assert 0 < fastest <= median <= slowest, line.group(0)


def test_compare_is_timed_for_all_stacks(printed):
    assert "\ncncfdemo compare, all 5 stacks (seconds)\n" in printed
    for how in ("from saved estimates", "estimating each stack"):
        line = re.search(rf"^  {how} +({SECONDS})$", printed, re.M)
        assert line and float(line.group(1)) > 0, f"no compare timing {how!r}:\n{printed}"
    assert re.search(r"^  report size +\d+\.\d KiB$", printed, re.M)


def test_no_runs_is_refused():
    done = bench("--repeat", "0")
    assert done.returncode == 2
    assert "0 runs measure nothing" in done.stderr
