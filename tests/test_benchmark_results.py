"""Benchmark results for real: wrk runs the workloads' Lua hook against a loopback server, the
hook pushes to a real Pushgateway, a real Prometheus scrapes it, and `cncfdemo`'s Prometheus
reader must return exactly what wrk reported (its own report, and the hook's result line)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess

import benchmark_servers as servers
import pytest
from conftest import require_tool

from cncfdemo import benchmark_results
from cncfdemo.benchmark_results import BenchmarkFile, BenchmarkResult, ResultsError

pytestmark = pytest.mark.slow

# real servers on loopback, shared with test_benchmark_command.py
write_api = servers.write_api
pushgateway = servers.pushgateway
prometheus = servers.prometheus
APP_KEY, HOOK, SCRAPE_SECONDS = servers.APP_KEY, servers.HOOK, servers.SCRAPE_SECONDS

# what wrk printed ----------------------------------------------------------------------------

# wrk's "Thread Stats" latency line: average, deviation, max, share within one deviation
THREAD_LATENCY = re.compile(r"^[ \t]+Latency[ \t]+\S+[ \t]+\S+[ \t]+(\S+)[ \t]+[\d.]+%$", re.M)
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(text: str) -> tuple[float, float]:
    """A wrk time (`1.23ms`) in seconds, and half its last printed digit (the rounding)."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    assert match, text
    unit = _UNITS[match.group(2)]
    return float(match.group(1)) * unit, 0.005 * unit


def wrk_report(stdout: str) -> dict:
    report = {
        "requests": int(re.search(r"^\s+(\d+) requests in ", stdout, re.M).group(1)),
        "per_second": float(re.search(r"^Requests/sec:\s+([\d.]+)", stdout, re.M).group(1)),
        "latency": {q: _seconds(re.search(rf"^\s+{p}%\s+(\S+)", stdout, re.M).group(1))
                    for q, p in (("0.5", 50), ("0.9", 90), ("0.99", 99))},
        "max": _seconds(THREAD_LATENCY.search(stdout).group(1)),
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    report["errors"] = int(non_2xx.group(1)) if non_2xx else 0
    hook_line = re.search(r"^cncfdemo-benchmark-result (.*)$", stdout, re.M)
    assert hook_line, f"the hook printed no result line:\n{stdout}"
    report["hook"] = json.loads(hook_line.group(1))
    return report


def run_wrk(target: str, pushgateway: str, run_id: str, connections: int = 4,
            threads: int = 2, seconds: int = 2) -> dict:
    assert HOOK.exists(), f"the workloads' wrk hook is missing: {HOOK}"
    env = {"PATH": os.environ["PATH"], "COUNTLY_APP_KEY": APP_KEY,
           "PUSHGATEWAY_URL": pushgateway, "BENCHMARK_STACK": "bench-test",
           "BENCHMARK_PROVIDER": "local", "RUN_ID": run_id,
           "BENCHMARK_CONNECTIONS": str(connections)}
    done = subprocess.run(
        [require_tool("wrk"), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", str(HOOK), target],
        env=env, capture_output=True, text=True, timeout=seconds + 60)
    assert done.returncode == 0, done.stderr + done.stdout
    return wrk_report(done.stdout)


# the checks ----------------------------------------------------------------------------------

def test_results_read_from_prometheus_equal_what_wrk_reported(write_api, pushgateway,
                                                             prometheus):
    run_id = "run-equal-1"
    wrk = run_wrk(write_api, pushgateway, run_id)
    assert wrk["requests"] > 0 and wrk["errors"] > 0, "the run needs requests and errors"

    result = benchmark_results.wait_for_run(prometheus, run_id, stack="bench-test",
                                            timeout=SCRAPE_SECONDS, poll=0.5)

    # wrk's own report, to the digits it prints
    assert result.requests == wrk["requests"]
    assert result.errors == wrk["errors"]
    assert round(result.throughput, 2) == pytest.approx(wrk["per_second"], abs=0.006)
    for quantile, (printed, rounding) in wrk["latency"].items():
        assert abs(result.latency_seconds[quantile] - printed) <= rounding + 1e-12, quantile
    assert abs(result.latency_max_seconds - wrk["max"][0]) <= wrk["max"][1] + 1e-12

    # the hook's result line, to the last bit
    hook = wrk["hook"]
    assert (result.stack, result.provider, result.run_id) == ("bench-test", "local", run_id)
    assert result.requests == hook["requests"]
    assert result.errors == hook["errors"]
    assert result.duration_seconds == hook["duration_seconds"]
    assert result.throughput == hook["throughput"]
    assert result.latency_seconds == hook["latency_seconds"]
    assert result.latency_max_seconds == hook["latency_max_seconds"]
    assert (result.connections, result.threads) == (4, 2)
    assert result.error_rate == pytest.approx(wrk["errors"] / wrk["requests"])


def test_two_runs_are_read_apart_and_saved_files_round_trip(write_api, pushgateway,
                                                           prometheus, tmp_path):
    first = run_wrk(write_api, pushgateway, "run-a", connections=2, threads=1, seconds=1)
    second = run_wrk(write_api, pushgateway, "run-b", connections=6, threads=3, seconds=1)

    a = benchmark_results.wait_for_run(prometheus, "run-a", timeout=SCRAPE_SECONDS, poll=0.5)
    b = benchmark_results.wait_for_run(prometheus, "run-b", timeout=SCRAPE_SECONDS, poll=0.5)
    assert (a.requests, a.connections, a.threads) == (first["requests"], 2, 1)
    assert (b.requests, b.connections, b.threads) == (second["requests"], 6, 3)

    saved = BenchmarkFile(result=b, settings={"duration": "1s"}).save(tmp_path / "b.json")
    assert BenchmarkFile.load(saved).result == b


def test_a_run_that_never_pushed_is_a_clear_error(prometheus):
    with pytest.raises(ResultsError, match="no results for run never-ran"):
        benchmark_results.wait_for_run(prometheus, "never-ran", timeout=1, poll=0.2)


# saved files that cannot be read (no servers needed) ----------------------------------------

SAVED = BenchmarkFile(result=BenchmarkResult(
    stack="aws-demo", provider="aws", run_id="aws-demo-1", requests=1000, errors=2,
    duration_seconds=10, throughput=100, latency_seconds={"0.5": 0.01, "0.9": 0.02, "0.99": 0.05},
    latency_max_seconds=0.1, connections=8, threads=2, completed=0)).as_dict()


def _without(path: str) -> dict:
    raw = copy.deepcopy(SAVED)
    *parents, last = path.split("/")
    holder = raw
    for key in parents:
        holder = holder[key]
    del holder[last]
    return raw


def _with(path: str, value) -> dict:
    raw = copy.deepcopy(SAVED)
    *parents, last = path.split("/")
    holder = raw
    for key in parents:
        holder = holder[key]
    holder[last] = value
    return raw


@pytest.mark.parametrize(("text", "says"), [
    ("", "is empty"),
    ("  \n", "is empty"),
    ('{"kind": "cncfdemo-benchmark", "results": {"stack": "aws-', "is not valid JSON"),
    ("[1, 2]", "holds an array, not an object"),
    (json.dumps(_with("kind", "cncfdemo-cost")), "is not a cncfdemo benchmark file"),
    (json.dumps(_without("results")), "have no results object"),
    (json.dumps(_without("results/latencySeconds")), "lack results.latencySeconds"),
    (json.dumps(_without("results/latencySeconds/0.99")), "lack results.latencySeconds.0.99"),
    (json.dumps(_without("results/throughputRequestsPerSecond")),
     "lack results.throughputRequestsPerSecond"),
    (json.dumps(_with("results/requests", "many")), "malformed value in results"),
    (json.dumps(_with("results/latencySeconds", [0.01])), "malformed value in results"),
])
def test_an_unreadable_results_file_is_a_results_error_naming_it(tmp_path, text, says):
    path = tmp_path / "aws-demo.benchmark.json"
    path.write_text(text)
    with pytest.raises(ResultsError) as caught:
        BenchmarkFile.load(path)
    assert str(path) in str(caught.value) and says in str(caught.value)


def test_a_saved_file_loads_as_it_was_saved(tmp_path):
    path = tmp_path / "aws-demo.benchmark.json"
    path.write_text(json.dumps(SAVED))
    assert BenchmarkFile.load(path).as_dict() == SAVED


def test_saving_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    path = tmp_path / "aws-demo.benchmark.json"
    path.write_text(json.dumps(SAVED))
    saved = BenchmarkFile.load(path)

    def interrupted(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        saved.save(path)
    assert json.loads(path.read_text()) == SAVED  # the earlier file, whole
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
