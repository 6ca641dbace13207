"""Real servers for the benchmark tests, each started on a free loopback port and stopped at
teardown: a write API that answers like Countly's, a Pushgateway and a Prometheus scraping it."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import require_tool

from cncfdemo.stackconfig import PROJECT_ROOT

HOOK = PROJECT_ROOT / "components" / "workloads" / "files" / "benchmark" / "countly.lua"
APP_KEY = "cncfdemo-test-app-key"
# one answer in seven is an error, so the run has errors to count
ERROR_EVERY = 7
START_SECONDS = 30
SCRAPE_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def eventually(check, what: str, seconds: float):
    deadline = time.monotonic() + seconds
    problem: Exception | None = None
    while time.monotonic() < deadline:
        try:
            found = check()
            if found:
                return found
        except OSError as err:
            problem = err
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {seconds}s ({problem})")


class _WriteApi(BaseHTTPRequestHandler):
    """Answers like Countly's write API; every ERROR_EVERY-th answer is a 500."""

    protocol_version = "HTTP/1.1"
    served = 0
    lock = threading.Lock()

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - the handler's method name
        with self.lock:
            type(self).served += 1
            failing = self.served % ERROR_EVERY == 0
        ok = urllib.parse.urlsplit(self.path).path == "/i" and not failing
        body = b'{"result":"Success"}' if ok else b'{"result":"Error"}'
        self.send_response(200 if ok else 500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def write_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _WriteApi)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _ready(url: str) -> bool:
    with urllib.request.urlopen(url + "/-/ready", timeout=2) as answer:
        return answer.status == 200


def _serve(argv: list[str], url: str, log: Path) -> Iterator[str]:
    with log.open("w") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        try:
            def up() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"{argv[0]} exited: {log.read_text()[-2000:]}")
                return _ready(url)
            eventually(up, f"{argv[0]} answering", START_SECONDS)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def pushgateway(tmp_path) -> Iterator[str]:
    port = free_port()
    # An empty persistence file keeps metrics in memory only: Debian's default,
    # /var/lib/prometheus/pushgateway.data, would bring back the groups of earlier runs.
    yield from _serve([require_tool("prometheus-pushgateway"),
                       f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
                      f"http://127.0.0.1:{port}", tmp_path / "pushgateway.log")


@pytest.fixture
def prometheus(tmp_path, pushgateway) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "pushgateway", "honor_labels": True, "static_configs": [
            {"targets": [urllib.parse.urlsplit(pushgateway).netloc]}]}],
    }))
    yield from _serve([require_tool("prometheus"), f"--config.file={config}",
                       f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                       f"--web.listen-address=127.0.0.1:{port}"],
                      f"http://127.0.0.1:{port}", tmp_path / "prometheus.log")


