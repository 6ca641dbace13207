"""A small Kubernetes API on loopback for testing the scripts that drive real kubectl.

It serves the discovery documents kubectl reads, `/readyz`, and nodes, services, claims and
volumes from an in-memory store (list with a name field selector, get, delete). No API server
can run here (FACTS.md), so the scripts' kubectl talks to this instead; what it checks is the
scripts' own logic and how they hand kubectl its kubeconfig.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# resource -> (kind, namespaced)
RESOURCES = {
    "nodes": ("Node", False),
    "services": ("Service", True),
    "persistentvolumeclaims": ("PersistentVolumeClaim", True),
    "persistentvolumes": ("PersistentVolume", False),
}

_PATH = re.compile(r"^/api/v1(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[a-z]+)"
                   r"(?:/(?P<name>[^/]+))?$")


@dataclass
class FakeCluster:
    """What the fake API answers; tests change it while a script runs."""

    readyz_failures: int = 0
    """How many /readyz calls answer 503 before the API is ready."""
    objects: dict[str, list[dict]] = field(default_factory=lambda: {r: [] for r in RESOURCES})
    volumes_linger: int = 0
    """How many volume lists still show a deleted claim's volume (the driver is asynchronous)."""
    authorizations: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_node(self, name: str, ready: bool) -> None:
        self.objects["nodes"].append({
            "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}]},
        })

    def add_service(self, namespace: str, name: str, type_: str) -> None:
        self.objects["services"].append({"metadata": {"name": name, "namespace": namespace},
                                         "spec": {"type": type_}})

    def add_claim(self, namespace: str, name: str, driver: str) -> None:
        self.objects["persistentvolumeclaims"].append(
            {"metadata": {"name": name, "namespace": namespace}, "spec": {}})
        self.objects["persistentvolumes"].append(
            {"metadata": {"name": f"pv-{name}", "claim": f"{namespace}/{name}"},
             "spec": {"csi": {"driver": driver, "volumeHandle": f"vol-{name}"}}})

    def names(self, resource: str) -> list[str]:
        return [o["metadata"]["name"] for o in self.objects[resource]]


def _discovery(path: str) -> dict | None:
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                "serverAddress": "127.0.0.1"}]}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
    if path == "/api/v1":
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": name, "singularName": kind.lower(), "namespaced": namespaced,
             "kind": kind, "verbs": ["delete", "deletecollection", "get", "list", "watch"]}
            for name, (kind, namespaced) in RESOURCES.items()]}
    if path == "/version":
        return {"major": "1", "minor": "35", "gitVersion": "v1.35.3"}
    return None


class _Handler(BaseHTTPRequestHandler):
    cluster: FakeCluster

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self) -> None:
        self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "reason": "NotFound", "code": 404})

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        cluster = self.cluster
        with cluster.lock:
            cluster.requests.append(f"GET {url.path}")
            cluster.authorizations.append(self.headers.get("Authorization", ""))
            if url.path == "/readyz":
                if cluster.readyz_failures > 0:
                    cluster.readyz_failures -= 1
                    self._send(503, "[-]etcd failed: reason withheld\nreadyz check failed",
                               "text/plain")
                else:
                    self._send(200, "ok", "text/plain")
                return
            document = _discovery(url.path)
            if document is not None:
                self._send(200, document)
                return
            match = _PATH.match(url.path)
            if not match or match["resource"] not in RESOURCES:
                self._not_found()
                return
            self._send(*self._read(match, parse_qs(url.query)))

    def _read(self, match: re.Match, query: dict) -> tuple[int, dict]:
        cluster = self.cluster
        resource, namespace, name = match["resource"], match["ns"], match["name"]
        kind = RESOURCES[resource][0]
        items = [o for o in cluster.objects[resource]
                 if namespace is None or o["metadata"].get("namespace") == namespace]
        if resource == "persistentvolumes" and cluster.volumes_linger > 0:
            cluster.volumes_linger -= 1
        else:
            claims = {f"{c['metadata']['namespace']}/{c['metadata']['name']}"
                      for c in cluster.objects["persistentvolumeclaims"]}
            if resource == "persistentvolumes":
                # the driver deletes the volume of a deleted claim
                cluster.objects[resource] = [v for v in cluster.objects[resource]
                                             if v["metadata"]["claim"] in claims]
                items = list(cluster.objects[resource])
        selector = (query.get("fieldSelector") or [""])[0]
        if selector.startswith("metadata.name="):
            items = [o for o in items if o["metadata"]["name"] == selector.split("=", 1)[1]]
        if name is not None:
            found = [o for o in items if o["metadata"]["name"] == name]
            if not found:
                return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": "NotFound", "code": 404}
            return 200, {"kind": kind, "apiVersion": "v1", **found[0]}
        return 200, {"kind": f"{kind}List", "apiVersion": "v1",
                     "metadata": {"resourceVersion": "1"},
                     "items": [{"kind": kind, "apiVersion": "v1", **o} for o in items]}

    def do_DELETE(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        cluster = self.cluster
        with cluster.lock:
            cluster.requests.append(f"DELETE {url.path}")
            match = _PATH.match(url.path)
            if not match or match["resource"] not in RESOURCES or match["name"] is None:
                self._not_found()
                return
            resource, namespace, name = match["resource"], match["ns"], match["name"]
            before = cluster.objects[resource]
            kept = [o for o in before if not (o["metadata"]["name"] == name and
                                              o["metadata"].get("namespace") == namespace)]
            if len(kept) == len(before):
                self._not_found()
                return
            cluster.objects[resource] = kept
            self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})


@dataclass(frozen=True)
class Endpoint:
    url: str
    ca_pem: str


def _serving_certificate(folder: Path) -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1: kubectl sends a token only over TLS."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube-api")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    (folder / "tls.crt").write_text(cert_pem)
    (folder / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return folder / "tls.crt", folder / "tls.key", cert_pem


@contextmanager
def fake_kube_api(cluster: FakeCluster) -> Iterator[Endpoint]:
    """Serve `cluster` over TLS on a free loopback port."""
    handler = type("Handler", (_Handler,), {"cluster": cluster})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with tempfile.TemporaryDirectory() as folder:
        cert, key, cert_pem = _serving_certificate(Path(folder))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Endpoint(f"https://127.0.0.1:{server.server_address[1]}", cert_pem)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def kubeconfig(endpoint: Endpoint, token: str) -> str:
    ca_data = base64.b64encode(endpoint.ca_pem.encode()).decode()
    return json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": endpoint.url,
                                                  "certificate-authority-data": ca_data}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "admin"}}],
        "current-context": "fake",
    })
