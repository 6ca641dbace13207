"""The user-data that turns a stock or prebuilt node into a master or a minion of the cluster.

Plain Python, no Pulumi: `render_user_data(role, params)` takes a `UserDataParams` of plain values
and returns the `#cloud-config` text. The templates in `templates/` are rendered strictly (an
undefined variable is an error); every derived value is computed here. The units, drop-ins and
scripts are copied from `units/` and `scripts/` as they are, so the files on disk are the ones
the static checks test.

What a node gets (both roles get every unit and script; the role file decides what runs):

    /etc/sysconfig/kubernetes-cluster        the cluster's settings (environment file)
    /etc/sysconfig/kubernetes-master|minion  the role file the units' ConditionPathExists reads
    /etc/cncfdemo/token, ca-cert-hash         how to join (token 0600)
    /etc/cncfdemo/certificate-key             masters: decrypts the uploaded control-plane certs
    /etc/cncfdemo/kubeadm-init.yaml           masters: kubeadm's InitConfiguration (0600)
    /etc/kubernetes/pki/...                   masters: the cluster, front-proxy and etcd CAs and
                                              the service-account key (keys 0600)
    /etc/cncfdemo/ca.crt                      minions: the cluster CA (kubeadm's worker preflight
                                              refuses to join over /etc/kubernetes/pki/ca.crt)
    /etc/cncfdemo/kubelet-cloud-provider.env  with a cloud controller: the kubelet's extra flag,
                                              loaded by a kubelet.service drop-in
    /usr/local/lib/cncfdemo/*.sh              the bootstrap and install scripts
    /etc/systemd/system/*.service, *.d/*.conf the units and their drop-ins
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import jinja2
import yaml

Role = Literal["masters", "minions"]
ROLES: tuple[Role, ...] = ("masters", "minions")

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
UNITS_DIR = HERE / "units"
SCRIPTS_DIR = HERE / "scripts"

API_PORT = 6443
DOMAIN = "k8s"
LIB_DIR = "/usr/local/lib/cncfdemo"
SYSTEMD_DIR = "/etc/systemd/system"
CNCFDEMO_DIR = "/etc/cncfdemo"
PKI_DIR = "/etc/kubernetes/pki"

# Units every node gets; the role units start only where their role file exists.
INSTALL_UNIT = "cncfdemo-install.service"
ROLE_UNITS = ("kubeadm-master.service", "kubeadm-minion.service")
UNITS = (INSTALL_UNIT, *ROLE_UNITS)
# Drop-ins for units the packages install (kubelet.service comes with kubelet and kubeadm).
CLOUD_PROVIDER_DROP_IN = "kubelet.service.d/20-cloud-provider-external.conf"
SCRIPTS = ("common.sh", "install-kubernetes.sh", "kubeadm-master.sh", "kubeadm-minion.sh")

_VERSION = re.compile(r"^1\.\d+\.\d+$")
_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
_CERTIFICATE_KEY = re.compile(r"^[0-9a-f]{64}$")
_CA_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def api_host(cluster_name: str) -> str:
    """The stable in-cluster name of the masters, kept in DNS by the provider."""
    return f"masters.{cluster_name}.{DOMAIN}"


def api_endpoint(cluster_name: str) -> str:
    """What every kubeadm call uses: control-plane endpoint, join and discovery."""
    return f"{api_host(cluster_name)}:{API_PORT}"


@dataclass(frozen=True)
class UserDataParams:
    """Everything a node's user-data depends on, as plain values (the secrets in clear)."""

    cluster_name: str
    kubernetes_version: str
    """major.minor.patch, e.g. 1.35.3."""
    master_count: int
    pod_cidr: str
    service_cidr: str
    public_api_endpoint: str
    """What admins and the program reach, e.g. https://<load balancer>:6443."""
    cni_name: str
    """The CNI's name (calico); kubeadm-master.sh adapts its manifest by name."""
    cni_manifest_url: str
    token: str
    """The kubeadm bootstrap token, [a-z0-9]{6}.[a-z0-9]{16}."""
    ca_cert_hash: str
    """sha256:<hex>, the hash kubeadm's token discovery pins the cluster CA with."""
    ca_cert_pem: str
    # masters only; a minion's user-data never contains them
    certificate_key: str
    ca_key_pem: str
    front_proxy_ca_cert_pem: str
    front_proxy_ca_key_pem: str
    etcd_ca_cert_pem: str
    etcd_ca_key_pem: str
    service_account_key_pem: str
    service_account_public_pem: str
    api_server_names: tuple[str, ...] = ()
    """Extra names (or addresses) in the API server's serving certificate."""
    node_image_prebuilt: bool = False
    cloud_provider_external: bool = False
    fqdn_node_names: bool = False
    """Name nodes by their full host name (AWS's private DNS name)."""

    def __post_init__(self) -> None:
        problems = []
        if not _LABEL.match(self.cluster_name):
            problems.append(f"cluster_name {self.cluster_name!r} is not a DNS label")
        if not _VERSION.match(self.kubernetes_version):
            problems.append(f"kubernetes_version {self.kubernetes_version!r} is not like 1.35.3")
        if self.master_count < 1:
            problems.append(f"master_count must be at least 1, not {self.master_count}")
        if not _TOKEN.match(self.token):
            problems.append("token is not a kubeadm bootstrap token ([a-z0-9]{6}.[a-z0-9]{16})")
        if not _CERTIFICATE_KEY.match(self.certificate_key):
            problems.append("certificate_key is not 32 bytes of lower-case hex")
        if not _CA_HASH.match(self.ca_cert_hash):
            problems.append(f"ca_cert_hash {self.ca_cert_hash!r} is not sha256:<64 hex digits>")
        for name in ("ca_cert_pem", "ca_key_pem", "front_proxy_ca_cert_pem",
                     "front_proxy_ca_key_pem", "etcd_ca_cert_pem", "etcd_ca_key_pem",
                     "service_account_key_pem", "service_account_public_pem"):
            if not getattr(self, name).startswith("-----BEGIN "):
                problems.append(f"{name} is not PEM")
        if _public_host(self.public_api_endpoint) is None:
            problems.append(f"public_api_endpoint {self.public_api_endpoint!r} is not a URL "
                            "like https://api.example.com:6443")
        if problems:
            raise ValueError("UserDataParams: " + "; ".join(problems))

    @property
    def kubernetes_minor(self) -> str:
        return "v" + ".".join(self.kubernetes_version.split(".")[:2])

    @property
    def api_endpoint(self) -> str:
        return api_endpoint(self.cluster_name)

    @property
    def api_server_sans(self) -> tuple[str, ...]:
        """The in-cluster name, the public endpoint's host and the extra names, once each."""
        names = [api_host(self.cluster_name), _public_host(self.public_api_endpoint),
                 *self.api_server_names]
        return tuple(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True)
class NodeFile:
    path: str
    content: str
    permissions: str = "0644"

    def __post_init__(self) -> None:
        # a YAML literal block keeps exactly one final newline; give every file one
        if not self.content.endswith("\n"):
            object.__setattr__(self, "content", self.content + "\n")


@dataclass(frozen=True)
class _Rendering:
    params: UserDataParams
    role: Role
    environment: jinja2.Environment = field(repr=False)

    def template(self, name: str, **extra: object) -> str:
        return self.environment.get_template(name).render(**self._variables(), **extra)

    def _variables(self) -> dict[str, object]:
        p = self.params
        return {
            "role": self.role,
            "role_singular": self.role[:-1],
            "cluster_name": p.cluster_name,
            "kubernetes_version": p.kubernetes_version,
            "kubernetes_minor": p.kubernetes_minor,
            "api_endpoint": p.api_endpoint,
            "master_count": p.master_count,
            "pod_cidr": p.pod_cidr,
            "service_cidr": p.service_cidr,
            "cni_name": p.cni_name,
            "cni_manifest_url": p.cni_manifest_url,
            "node_image_prebuilt": "true" if p.node_image_prebuilt else "false",
            "api_server_sans": p.api_server_sans,
            "fqdn_node_names": p.fqdn_node_names,
        }


def _public_host(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a malformed port
    except (ValueError, TypeError, AttributeError):
        return None
    return host if parts.scheme == "https" and host else None


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def _read(directory: Path, name: str) -> str:
    return (directory / name).read_text()


def unit_files(cloud_provider_external: bool) -> list[NodeFile]:
    """The units and drop-ins every node gets, at their place under /etc/systemd/system."""
    files = []
    for unit in UNITS:
        files.append(NodeFile(f"{SYSTEMD_DIR}/{unit}", _read(UNITS_DIR, unit)))
        for drop_in in sorted((UNITS_DIR / f"{unit}.d").glob("*.conf")):
            files.append(NodeFile(f"{SYSTEMD_DIR}/{unit}.d/{drop_in.name}", drop_in.read_text()))
    if cloud_provider_external:
        files.append(NodeFile(f"{SYSTEMD_DIR}/{CLOUD_PROVIDER_DROP_IN}",
                              _read(UNITS_DIR, CLOUD_PROVIDER_DROP_IN)))
    return files


def node_files(role: Role, params: UserDataParams) -> list[NodeFile]:
    """Every file the user-data writes on a node of this role, in writing order."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    r = _Rendering(params, role, _environment())
    secret = "0600"
    files = [
        NodeFile("/etc/sysconfig/kubernetes-cluster", r.template("kubernetes-cluster.env.j2")),
        NodeFile(f"/etc/sysconfig/kubernetes-{role[:-1]}", r.template("kubernetes-role.env.j2")),
        NodeFile(f"{CNCFDEMO_DIR}/token", params.token + "\n", secret),
        NodeFile(f"{CNCFDEMO_DIR}/ca-cert-hash", params.ca_cert_hash + "\n"),
    ]
    if role == "masters":
        files += [
            NodeFile(f"{CNCFDEMO_DIR}/certificate-key", params.certificate_key + "\n", secret),
            NodeFile(f"{CNCFDEMO_DIR}/kubeadm-init.yaml",
                     r.template("kubeadm-init.yaml.j2", token=params.token,
                                certificate_key=params.certificate_key), secret),
            NodeFile(f"{PKI_DIR}/ca.crt", params.ca_cert_pem),
            NodeFile(f"{PKI_DIR}/ca.key", params.ca_key_pem, secret),
            NodeFile(f"{PKI_DIR}/front-proxy-ca.crt", params.front_proxy_ca_cert_pem),
            NodeFile(f"{PKI_DIR}/front-proxy-ca.key", params.front_proxy_ca_key_pem, secret),
            NodeFile(f"{PKI_DIR}/etcd/ca.crt", params.etcd_ca_cert_pem),
            NodeFile(f"{PKI_DIR}/etcd/ca.key", params.etcd_ca_key_pem, secret),
            NodeFile(f"{PKI_DIR}/sa.key", params.service_account_key_pem, secret),
            NodeFile(f"{PKI_DIR}/sa.pub", params.service_account_public_pem),
        ]
    else:
        files.append(NodeFile(f"{CNCFDEMO_DIR}/ca.crt", params.ca_cert_pem))
    if params.cloud_provider_external:
        files.append(NodeFile(f"{CNCFDEMO_DIR}/kubelet-cloud-provider.env",
                              "KUBELET_EXTRA_ARGS=--cloud-provider=external\n"))
    files += [NodeFile(f"{LIB_DIR}/{name}", _read(SCRIPTS_DIR, name), "0755")
              for name in SCRIPTS]
    files += unit_files(params.cloud_provider_external)
    return files


def render_user_data(role: Role, params: UserDataParams) -> str:
    """The `#cloud-config` user-data of a node of this role."""
    files = node_files(role, params)
    text = _Rendering(params, role, _environment()).template(
        "user-data.yaml.j2", files=files, units=UNITS, role_units=ROLE_UNITS)
    _check_round_trip(text, files)
    return text


def _check_round_trip(text: str, files: list[NodeFile]) -> None:
    """Fails when YAML would hand cloud-init a file other than the one meant (indentation)."""
    written = {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}
    for expected in files:
        if written.get(expected.path) != expected.content:
            raise ValueError(f"user-data would not write {expected.path} as given; its content "
                             "must end with a newline and not start with blanks")
