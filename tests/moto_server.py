"""A real moto server on loopback, and a proxy in front of it that can answer like a throttled AWS.

`MotoServer` runs the venv's `moto_server` as a child process on a free 127.0.0.1 port; clients
reach it over HTTP exactly as they would reach AWS (`AWS_ENDPOINT_URL`). `ThrottlingProxy`
forwards every request to it unchanged, except the next N requests that match a rule, which it
answers itself with an AWS error document (e.g. Route53's `Throttling`), counting what it saw.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """`moto_server` as a child process; `url` is its endpoint, `reset()` empties every backend."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        executable = Path(sys.executable).with_name("moto_server")
        self._process = subprocess.Popen(
            [str(executable), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_until_answering()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self._process.stderr.read().decode()}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.url} in {START_TIMEOUT_SECONDS}s")

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stderr.close()


@dataclass
class FaultRule:
    """Answer the next `remaining` requests whose method and path match with an AWS error."""

    method: str
    path_contains: str
    remaining: int
    status: int
    body: bytes
    answered: int = 0


@dataclass
class ThrottlingProxy:
    """An HTTP proxy to `upstream` that injects the faults in `rules`; `seen` logs every request."""

    upstream_port: int
    rules: list[FaultRule] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def route53_error(self, method: str, path_contains: str, code: str, times: int) -> FaultRule:
        """Make Route53 answer the next `times` matching requests with error `code` (HTTP 400)."""
        body = (
            '<?xml version="1.0"?>\n'
            '<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
            f"<Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded</Message>"
            "</Error><RequestId>injected-by-test-proxy</RequestId></ErrorResponse>"
        ).encode()
        rule = FaultRule(method, path_contains, times, 400, body)
        with self._lock:
            self.rules.append(rule)
        return rule

    def _fault_for(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            self.seen.append((method, path))
            for rule in self.rules:
                if rule.remaining and rule.method == method and rule.path_contains in path:
                    rule.remaining -= 1
                    rule.answered += 1
                    return rule
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._fault_for(self.command, self.path)
                if fault is not None:
                    self._answer(fault.status, {"Content-Type": "text/xml"}, fault.body)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    skipped = {"content-length", "transfer-encoding", "connection"}
                    relayed = {k: v for k, v in response.getheaders() if k.lower() not in skipped}
                    self._answer(response.status, relayed, payload)
                finally:
                    upstream.close()

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test reads `proxy.seen`; stderr noise would hide real failures

        return Handler

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.seen.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
