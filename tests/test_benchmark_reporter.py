"""The benchmark reporter for real: wrk with the deployed Lua script against a loopback server
that answers like Countly's write API (and checks each write as Countly would), pushing to a
real Pushgateway scraped by a real Prometheus. What Prometheus returns must equal what wrk
reported."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import benchmark_servers as servers
import pytest
from conftest import require_tool

from components.workloads import benchmark_metrics as metrics
from components.workloads.benchmark import SCRIPT_PATH

pytestmark = pytest.mark.slow

APP_KEY = "0123456789abcdef0123456789abcdef01234567"
# Every fifth request the server answers with an error, so the run has a known error share.
ERROR_EVERY = 5

# the real Pushgateway and Prometheus on loopback, shared with the other benchmark tests
pushgateway = servers.pushgateway
prometheus = servers.prometheus
free_port = servers.free_port


class CountlyWriteApi(ThreadingHTTPServer):
    """Answers GET /i like Countly: `{"result":"Success"}` for a well-formed write."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _CountlyHandler)
        self.lock = threading.Lock()
        self.served = 0
        self.errors_served = 0
        self.malformed = 0
        self.device_ids: set[str] = set()
        self.event_keys: set[str] = set()


class _CountlyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountlyWriteApi

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def _answer(self, status: int, result: str) -> None:
        body = json.dumps({"result": result}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the handler's method name
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        well_formed = (url.path == "/i" and query.get("app_key") == [APP_KEY]
                       and len(query.get("device_id", [])) == 1)
        events = []
        if well_formed:
            try:
                events = json.loads(query["events"][0])
            except (KeyError, ValueError):
                well_formed = False
        with self.server.lock:
            self.server.served += 1
            fail = self.server.served % ERROR_EVERY == 0
            if not well_formed:
                self.server.malformed += 1
            else:
                self.server.device_ids.add(query["device_id"][0])
                self.server.event_keys.update(event.get("key") for event in events)
            if fail:
                self.server.errors_served += 1
        if not well_formed:
            self._answer(400, "Missing parameter \"app_key\" or \"device_id\"")
        elif fail:
            self._answer(500, "Error")
        else:
            self._answer(200, "Success")


@pytest.fixture
def countly_api() -> Iterator[CountlyWriteApi]:
    server = CountlyWriteApi(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def run_wrk(target: str, pushgateway_url: str, run_id: str, app_key: dict[str, str],
            connections: int = 4, threads: int = 2) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        **app_key,
        "PUSHGATEWAY_URL": pushgateway_url,
        "BENCHMARK_STACK": "local-demo",
        "BENCHMARK_PROVIDER": "local",
        "RUN_ID": run_id,
        "BENCHMARK_CONNECTIONS": str(connections),
    }
    return subprocess.run(
        [require_tool("wrk"), f"--threads={threads}", f"--connections={connections}",
         "--duration=3s", "--timeout=5s", "--latency", f"--script={SCRIPT_PATH}", target],
        env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def app_key_file(tmp_path) -> dict[str, str]:
    """The app key as the cluster hands it to wrk: a file from a mounted Secret."""
    path = tmp_path / "app-key"
    path.write_text(APP_KEY + "\n")
    return {"COUNTLY_APP_KEY_FILE": str(path)}


def wrk_summary(stdout: str) -> dict:
    """What wrk itself printed, parsed from its human-readable summary."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}

    def seconds(text: str) -> tuple[float, float]:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(value) * units[unit], 0.005 * units[unit]  # printed with two decimals

    summary = {"requests": int(re.search(r"(\d+) requests in", stdout).group(1)),
               "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", stdout)[1])}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    summary["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout)
    summary["socket"] = dict(zip(("connect", "read", "write", "timeout"),
                                 map(int, socket_errors.groups()) if socket_errors
                                 else (0, 0, 0, 0), strict=True))
    summary["latency"] = {q: seconds(re.search(rf"^\s+{p}%\s+(\S+)$", stdout, re.M).group(1))
                          for q, p in (("0.5", "50"), ("0.9", "90"), ("0.99", "99"))}
    # the thread stats line: Latency  avg  stdev  max  +/- stdev
    stats = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+[\d.]+%$", stdout, re.M)
    summary["latency_max"] = seconds(stats.group(3))
    return summary


def reported(stdout: str) -> dict:
    line = re.search(r"^cncfdemo-benchmark-result (.*)$", stdout, re.M)
    assert line, f"the Lua done() hook printed no result:\n{stdout}"
    return json.loads(line.group(1))


def scraped(prometheus_url: str, run_id: str) -> dict[str, float]:
    """Every benchmark series of `run_id` Prometheus holds, as name[/quantile] -> value."""
    selector = f'{{job="{metrics.JOB}",run_id="{run_id}",__name__=~"cncfdemo_benchmark_.*"}}'
    query = urllib.parse.urlencode({"query": selector})
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/query?{query}", timeout=5) as answer:
        body = json.load(answer)
    values = {}
    for series in body["data"]["result"]:
        labels = series["metric"]
        assert (labels["stack"], labels["provider"]) == ("local-demo", "local"), labels
        key = labels["__name__"] + (f"/{labels['quantile']}" if "quantile" in labels else "")
        values[key] = float(series["value"][1])
    return values


def test_prometheus_returns_what_wrk_reported(countly_api, pushgateway, prometheus,
                                              app_key_file):
    run_id = "test-run-1"
    result = run_wrk(f"http://127.0.0.1:{countly_api.server_port}", pushgateway, run_id,
                     app_key_file)
    assert result.returncode == 0, result.stderr + result.stdout
    printed = wrk_summary(result.stdout)
    pushed = reported(result.stdout)

    expected_series = len(metrics.METRICS) - 1 + len(metrics.LATENCY_QUANTILES)
    # Complete, and from this run: the completed timestamp is the one this run pushed.
    values = servers.eventually(
        lambda: (found := scraped(prometheus, run_id)) and len(found) == expected_series
        and found[metrics.COMPLETED] == pushed["completed"] and found,
        f"Prometheus scraping all {expected_series} series of {run_id}", servers.SCRAPE_SECONDS)

    # Prometheus holds exactly what the hook computed ...
    assert values == {
        metrics.REQUESTS: pushed["requests"],
        metrics.ERRORS: pushed["errors"],
        metrics.DURATION: pushed["duration_seconds"],
        metrics.THROUGHPUT: pushed["throughput"],
        f"{metrics.LATENCY}/0.5": pushed["latency_seconds"]["0.5"],
        f"{metrics.LATENCY}/0.9": pushed["latency_seconds"]["0.9"],
        f"{metrics.LATENCY}/0.99": pushed["latency_seconds"]["0.99"],
        metrics.LATENCY_MAX: pushed["latency_max_seconds"],
        metrics.CONNECTIONS: 4,
        metrics.THREADS: 2,
        metrics.COMPLETED: pushed["completed"],
    }

    # ... and the hook computed what wrk itself printed.
    assert pushed["requests"] == printed["requests"]
    assert pushed["non_2xx"] == printed["non_2xx"]
    assert pushed["socket_errors"] == printed["socket"]
    assert pushed["errors"] == printed["non_2xx"] + sum(printed["socket"].values())
    assert round(pushed["throughput"], 2) == pytest.approx(printed["requests_per_second"],
                                                           abs=0.006)
    for quantile, (value, half_digit) in printed["latency"].items():
        # wrk rounds to its last printed digit, so a value exactly halfway (44.055 ms printed
        # as 44.06 ms) sits on the bound; the nanosecond keeps float error from failing it
        assert pushed["latency_seconds"][quantile] == pytest.approx(value,
                                                                    abs=half_digit + 1e-9)
    value, half_digit = printed["latency_max"]
    assert pushed["latency_max_seconds"] == pytest.approx(value, abs=half_digit + 1e-9)


def test_the_pushgateway_starts_without_earlier_groups(pushgateway):
    # A group left by an earlier run could stand in for this run's results.
    with urllib.request.urlopen(f"{pushgateway}/api/v1/metrics", timeout=5) as answer:
        assert json.load(answer)["data"] == []


def test_the_run_wrote_valid_countly_events_with_the_known_error_share(countly_api, pushgateway):
    # the key straight from the environment works too (a run by hand)
    result = run_wrk(f"http://127.0.0.1:{countly_api.server_port}", pushgateway, "test-run-2",
                     {"COUNTLY_APP_KEY": APP_KEY})
    assert result.returncode == 0, result.stderr + result.stdout
    pushed = reported(result.stdout)
    in_flight = 4  # responses the server sent that wrk had not counted when it stopped

    assert countly_api.malformed == 0
    assert countly_api.event_keys == {"cncfdemo_benchmark"}
    assert len(countly_api.device_ids) > 100, "device ids must vary from request to request"
    assert countly_api.served - in_flight <= pushed["requests"] <= countly_api.served
    assert pushed["socket_errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    assert (countly_api.errors_served - in_flight <= pushed["errors"]
            <= countly_api.errors_served)
    assert pushed["errors"] == pytest.approx(pushed["requests"] / ERROR_EVERY, abs=in_flight + 1)


def test_a_failed_push_fails_the_run(countly_api, app_key_file):
    closed = f"http://127.0.0.1:{free_port()}"
    result = run_wrk(f"http://127.0.0.1:{countly_api.server_port}", closed, "test-run-3",
                     app_key_file)
    assert result.returncode != 0
    assert "pushing the results to" in result.stderr
    assert "cannot connect" in result.stderr


def test_a_missing_app_key_file_stops_wrk_before_the_load(countly_api, pushgateway, tmp_path):
    missing = {"COUNTLY_APP_KEY_FILE": str(tmp_path / "absent")}
    result = run_wrk(f"http://127.0.0.1:{countly_api.server_port}", pushgateway, "test-run-4",
                     missing)
    assert result.returncode != 0
    assert "COUNTLY_APP_KEY_FILE" in result.stderr
    assert countly_api.served == 0
