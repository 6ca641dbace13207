"""The node artifacts checked by the tools that consume them: `cloud-init schema` on every
user-data, `systemd-analyze verify` on every unit with its drop-ins, `shellcheck` on every script
(also as extracted from the user-data); then the bootstrap scripts run with stand-ins for
getent, curl, kubeadm and kubectl to check the choice of the first master.
"""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import require_tool
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import cloud_init
from cncfdemo import render
from components.bootstrap import CALICO

TOKEN = "abcdef.0123456789abcdef"
CERTIFICATE_KEY = "0f" * 32
CA_HASH = "sha256:" + "ab" * 32


def _pki() -> tuple[str, str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode(),
        key.public_key().public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
    )


@pytest.fixture(scope="module")
def params() -> dict:
    cert, key, public = _pki()
    return dict(
        cluster_name="demo", kubernetes_version="1.35.3", master_count=3,
        pod_cidr="192.168.0.0/16", service_cidr="10.96.0.0/12",
        public_api_endpoint="https://demo-api.elb.example.com:6443",
        cni_name=CALICO.name, cni_manifest_url=CALICO.manifest_url,
        token=TOKEN, ca_cert_hash=CA_HASH, ca_cert_pem=cert, certificate_key=CERTIFICATE_KEY,
        ca_key_pem=key, front_proxy_ca_cert_pem=cert, front_proxy_ca_key_pem=key,
        etcd_ca_cert_pem=cert, etcd_ca_key_pem=key, service_account_key_pem=key,
        service_account_public_pem=public, api_server_names=("demo-api.elb.example.com",),
    )


VARIANTS = [(role, external) for role in cloud_init.ROLES for external in (True, False)]


@pytest.fixture(scope="module")
def user_data_texts(params) -> dict[str, str]:
    """Rendered user-data by name: every role, with and without the cloud controller."""
    texts = {}
    for role, external in VARIANTS:
        node = cloud_init.UserDataParams(**params, cloud_provider_external=external,
                                         fqdn_node_names=external)
        texts[f"{role}-external-{external}"] = cloud_init.render_user_data(role, node)
    return texts


def written_files(text: str) -> dict[str, str]:
    return {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}


# cloud-init schema


def schema_check(path: Path) -> None:
    tool = require_tool("cloud-init")
    assert path.read_text().startswith("#cloud-config\n"), path
    result = subprocess.run([tool, "schema", "--config-file", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"{path.name}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize("name", [f"{r}-external-{e}" for r, e in VARIANTS])
def test_user_data_passes_cloud_init_schema(user_data_texts, name, tmp_path):
    path = tmp_path / f"{name}.yaml"
    path.write_text(user_data_texts[name])
    schema_check(path)


def test_schema_check_rejects_a_bad_module_setting(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("#cloud-config\nruncmd: 42\n")
    with pytest.raises(AssertionError):
        schema_check(path)


def test_aws_stack_renders_schema_valid_user_data_for_both_roles(rendered, program_run):
    texts = render.user_data(program_run("aws-demo"))
    roles = {("masters" if "/etc/sysconfig/kubernetes-master" in written_files(t) else "minions")
             for t in texts.values()}
    assert roles == {"masters", "minions"}, f"user-data found: {sorted(texts)}"
    files = sorted((rendered("aws-demo") / "cloud-init").glob("*.yaml"))
    assert len(files) == len(texts)
    for path in files:
        schema_check(path)


# systemd units and drop-ins


def unit_tree(root: Path, text: str, with_kubelet: bool) -> list[str]:
    """Lays the user-data's units and scripts out under `root` as on a node; returns the units.

    The host's own units come along (the targets the units order against); kubelet.service,
    which the kubelet package installs, is a stand-in so its drop-in has a unit to sit beside.
    """
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = []
    for path, content in written_files(text).items():
        if path.startswith(("/etc/systemd/system/", "/usr/local/lib/cncfdemo/")):
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            if path.endswith(".sh"):
                target.chmod(0o755)
            if path.endswith(".service"):
                units.append(path)
    if with_kubelet:
        stand_in = root / "usr/bin/kubelet"
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
        (root / "usr/lib/systemd/system/kubelet.service").write_text(
            "[Unit]\nDescription=kubelet stand-in\n\n[Service]\n"
            "ExecStart=/usr/bin/kubelet $KUBELET_EXTRA_ARGS\n")
        units.append("/usr/lib/systemd/system/kubelet.service")
    return units


def verify_unit(root: Path, unit: str) -> None:
    tool = require_tool("systemd-analyze")
    result = subprocess.run([tool, "verify", f"--root={root}", unit], capture_output=True,
                            text=True, timeout=120)
    # An unknown key is only a warning to systemd-analyze (exit 0); it is an error here.
    problems = [line for line in result.stderr.splitlines()
                if "Unknown key" in line or "Unknown section" in line]
    assert result.returncode == 0 and not problems, f"{unit}:\n{result.stderr}"


@pytest.mark.parametrize("name", [f"{r}-external-{e}" for r, e in VARIANTS])
def test_units_and_drop_ins_pass_systemd_analyze_verify(user_data_texts, name, tmp_path):
    text = user_data_texts[name]
    external = name.endswith("True")
    units = unit_tree(tmp_path, text, with_kubelet=external)
    assert len(units) == len(cloud_init.UNITS) + external
    drop_ins = [p for p in written_files(text) if p.endswith(".conf")]
    assert len(drop_ins) == len(cloud_init.UNITS) + external
    for unit in units:
        verify_unit(tmp_path, unit)


def test_verify_catches_an_unknown_key_in_a_drop_in(user_data_texts, tmp_path):
    units = unit_tree(tmp_path, user_data_texts["masters-external-False"], with_kubelet=False)
    drop_in = tmp_path / "etc/systemd/system/kubeadm-master.service.d/99-typo.conf"
    drop_in.write_text("[Service]\nEnviromentFile=/etc/sysconfig/kubernetes-cluster\n")
    with pytest.raises(AssertionError, match="Unknown key"):
        verify_unit(tmp_path, next(u for u in units if u.endswith("kubeadm-master.service")))


# shellcheck


def shellcheck(directory: Path) -> None:
    tool = require_tool("shellcheck")
    scripts = sorted(p.name for p in directory.glob("*.sh"))
    assert scripts
    # -x follows `. common.sh` (source-path=SCRIPTDIR in the scripts); run from elsewhere so
    # nothing resolves by accident relative to the working directory.
    result = subprocess.run([tool, "-x", *scripts], capture_output=True, text=True,
                            cwd=directory, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scripts_pass_shellcheck():
    shellcheck(cloud_init.SCRIPTS_DIR)


@pytest.mark.parametrize("role", cloud_init.ROLES)
def test_scripts_embedded_in_user_data_pass_shellcheck(user_data_texts, role, tmp_path):
    scripts = {path: content for path, content
               in written_files(user_data_texts[f"{role}-external-True"]).items()
               if content.startswith("#!") or path.endswith(".sh")}
    assert {Path(p).name for p in scripts} == set(cloud_init.SCRIPTS)
    for path, content in scripts.items():
        (tmp_path / Path(path).name).write_text(content)
    shellcheck(tmp_path)


# the bootstrap scripts, run with stand-ins

# Bodies of bash scripts put first on PATH; each records how it was called under $STUB_DIR.
STAND_INS = {
    # addresses of the masters' name, one a line, from the test's file
    "getent": """
        while read -r address; do
            [ -n "$address" ] && echo "$address STREAM $2"
        done < "$STUB_DIR/addresses"
    """,
    # /readyz answers once more than $STUB_DIR/api-up-after probes were made; a download copies
    # the test's manifest
    "curl": """
        echo "$*" >> "$STUB_DIR/curl.calls"
        while [ $# -gt 0 ]; do
            case "$1" in
                --output) cp "$STUB_DIR/calico.yaml" "$2"; exit 0 ;;
                */readyz)
                    probes=$(( $(cat "$STUB_DIR/probes" 2>/dev/null || echo 0) + 1 ))
                    echo "$probes" > "$STUB_DIR/probes"
                    [ "$probes" -gt "$(cat "$STUB_DIR/api-up-after")" ]; exit ;;
            esac
            shift
        done
        exit 2
    """,
    "kubeadm": """
        echo "$*" >> "$STUB_DIR/kubeadm.calls"
    """,
    "kubectl": """
        echo "$*" >> "$STUB_DIR/kubectl.calls"
    """,
    "sleep": "",
}

CALICO_EXCERPT = """\
            - name: CALICO_IPV4POOL_IPIP
              value: "Always"
            # - name: CALICO_IPV4POOL_CIDR
            #   value: "192.168.0.0/16"
"""


class Node:
    """A scratch node: /etc/cncfdemo and /etc/kubernetes moved into a temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stubs = root / "stubs"
        self.bin = root / "bin"
        self.cncfdemo_dir = root / "etc/cncfdemo"
        self.kubernetes_dir = root / "etc/kubernetes"
        for folder in (self.stubs, self.bin, self.cncfdemo_dir, self.kubernetes_dir / "pki"):
            folder.mkdir(parents=True)
        for name, body in STAND_INS.items():
            path = self.bin / name
            path.write_text("#!/bin/bash\n" + textwrap.dedent(body).lstrip("\n"))
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        (self.cncfdemo_dir / "token").write_text(TOKEN + "\n")
        (self.cncfdemo_dir / "ca-cert-hash").write_text(CA_HASH + "\n")
        (self.cncfdemo_dir / "certificate-key").write_text(CERTIFICATE_KEY + "\n")
        (self.cncfdemo_dir / "kubeadm-init.yaml").write_text("kind: InitConfiguration\n")
        (self.stubs / "calico.yaml").write_text(CALICO_EXCERPT)
        self.api_up_after(10**6)

    def addresses(self, *addresses: str) -> None:
        (self.stubs / "addresses").write_text("".join(f"{a}\n" for a in addresses))

    def api_up_after(self, probes: int) -> None:
        (self.stubs / "api-up-after").write_text(f"{probes}\n")

    def calls(self, tool: str) -> list[str]:
        path = self.stubs / f"{tool}.calls"
        return path.read_text().splitlines() if path.exists() else []

    def run(self, script: str, node_ip: str, timeout: int = 60) -> subprocess.CompletedProcess:
        env = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "STUB_DIR": str(self.stubs),
            "CNCFDEMO_LIB": str(cloud_init.SCRIPTS_DIR),
            "CNCFDEMO_DIR": str(self.cncfdemo_dir),
            "KUBERNETES_DIR": str(self.kubernetes_dir),
            "API_ENDPOINT": "masters.demo.k8s:6443",
            "MASTER_COUNT": "3",
            "POD_CIDR": "172.20.0.0/16",
            "CNI_NAME": "calico",
            "CNI_MANIFEST_URL": "https://example.invalid/calico.yaml",
            "NODE_IP": node_ip,
            "BOOTSTRAP_TIMEOUT": str(timeout),
        }
        return subprocess.run(["bash", str(cloud_init.SCRIPTS_DIR / script)], env=env,
                              capture_output=True, text=True, timeout=120)


# Sorted as text, 10.0.10.4 would come first; as addresses, 10.0.9.8 is the lowest.
MASTERS = ("10.0.10.4", "10.0.9.8", "10.0.12.3")
JOIN = f"join masters.demo.k8s:6443 --token {TOKEN} --discovery-token-ca-cert-hash {CA_HASH}"


@pytest.fixture
def node(tmp_path) -> Node:
    return Node(tmp_path)


def test_the_lowest_master_initialises_and_applies_the_cni(node):
    node.addresses(*MASTERS)
    result = node.run("kubeadm-master.sh", node_ip="10.0.9.8")
    assert result.returncode == 0, result.stderr
    assert node.calls("kubeadm") == [
        f"init --config {node.cncfdemo_dir}/kubeadm-init.yaml --upload-certs"]
    (apply,) = node.calls("kubectl")
    assert apply.endswith(f"apply --server-side --force-conflicts -f {node.cncfdemo_dir}/cni.yaml")
    manifest = (node.cncfdemo_dir / "cni.yaml").read_text()
    assert '- name: CALICO_IPV4POOL_CIDR\n              value: "172.20.0.0/16"' in manifest
    readyz = [c for c in node.calls("curl") if c.endswith("/readyz")]
    assert len(readyz) == 3, "probes every master once before deciding"
    assert all(f"--cacert {node.kubernetes_dir}/pki/ca.crt" in c for c in readyz)
    assert {c.split("--resolve ")[1].split()[0] for c in readyz} == {
        f"masters.demo.k8s:6443:{a}" for a in MASTERS}


def test_another_master_waits_for_the_first_and_joins_with_the_certificate_key(node):
    node.addresses(*MASTERS)
    node.api_up_after(3)  # down while the three decide, up at the first wait
    result = node.run("kubeadm-master.sh", node_ip="10.0.10.4")
    assert result.returncode == 0, result.stderr
    assert node.calls("kubeadm") == [
        f"{JOIN} --control-plane --certificate-key {CERTIFICATE_KEY}"]
    assert node.calls("kubectl") == []


def test_a_replacement_finding_the_api_joins_with_the_placed_pki(node):
    node.addresses(*MASTERS)
    node.api_up_after(0)
    result = node.run("kubeadm-master.sh", node_ip="10.0.9.8")  # lowest, yet must not init
    assert result.returncode == 0, result.stderr
    assert node.calls("kubeadm") == [f"{JOIN} --control-plane"]


@pytest.mark.parametrize("addresses, node_ip", [
    (MASTERS[:2], "10.0.9.8"),   # the name lists two of three masters
    (MASTERS, "10.0.7.7"),       # the name does not list this master yet
])
def test_no_master_decides_from_an_incomplete_set(node, addresses, node_ip):
    node.addresses(*addresses)
    result = node.run("kubeadm-master.sh", node_ip=node_ip, timeout=0)
    assert result.returncode == 1
    assert "to list 3 masters including this one" in result.stderr
    assert node.calls("kubeadm") == []


def test_a_minion_joins_the_masters_name_with_token_and_ca_hash(node):
    node.addresses(*MASTERS)
    result = node.run("kubeadm-minion.sh", node_ip="10.0.50.1")
    assert result.returncode == 0, result.stderr
    assert node.calls("kubeadm") == [JOIN]


@pytest.mark.parametrize("script", ["kubeadm-master.sh", "kubeadm-minion.sh"])
def test_a_node_that_joined_before_does_nothing_at_reboot(node, script):
    node.addresses(*MASTERS)
    (node.kubernetes_dir / "kubelet.conf").write_text("")
    result = node.run(script, node_ip="10.0.9.8")
    assert result.returncode == 0, result.stderr
    assert node.calls("kubeadm") == []


# the install script, run with stand-ins

# Every program the install script calls that would reach the network or change the machine
# records its arguments under $STUB_DIR instead; a download writes a placeholder key.
INSTALL_STAND_INS = {
    "curl": """
        echo "$*" >> "$STUB_DIR/curl.calls"
        while [ $# -gt 0 ]; do
            [ "$1" = --output ] && echo "placeholder key" > "$2"
            shift
        done
    """,
    "containerd": """
        echo "$*" >> "$STUB_DIR/containerd.calls"
        echo '  SystemdCgroup = false'
    """,
    "kubeadm": """
        echo "$*" >> "$STUB_DIR/kubeadm.calls"
        echo "v$KUBERNETES_VERSION"
    """,
    **{tool: 'echo "$*" >> "$STUB_DIR/' + tool + '.calls"\n'
       for tool in ("apt-get", "apt-mark", "gpg", "modprobe", "swapoff", "sysctl", "systemctl")},
}

# Mounted over /etc in a mount namespace of its own, so what the script writes there lands in
# the test's folder; the script stops before its first step if the mount fails.
OVERLAY_ETC = """set -eu
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
exec bash "$2"
"""


def run_install_script(root: Path, script: str, settings: dict[str, str]) -> Path:
    """Runs `script` (its text) as a node would, with `settings` as its only environment;
    returns the folder holding what it wrote to /etc."""
    unshare = require_tool("unshare")
    stubs, bin_dir = root / "stubs", root / "bin"
    for folder in (stubs, bin_dir, root / "upper", root / "work"):
        folder.mkdir()
    for name, body in INSTALL_STAND_INS.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + textwrap.dedent(body).lstrip("\n"))
        path.chmod(0o755)
    (root / "install-kubernetes.sh").write_text(script)
    (root / "overlay-etc.sh").write_text(OVERLAY_ETC)

    # Without root, a user namespace of its own lets the script mount its /etc.
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    result = subprocess.run(
        [unshare, "--mount", "--propagation", "private", *user, "bash",
         str(root / "overlay-etc.sh"), str(root), str(root / "install-kubernetes.sh")],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_DIR": str(stubs), **settings},
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return root / "upper"


def stand_in_calls(root: Path, tool: str) -> list[str]:
    path = root / "stubs" / f"{tool}.calls"
    return path.read_text().splitlines() if path.exists() else []


def env_file(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def install_paths(program_run) -> dict[str, tuple[str, dict[str, str]]]:
    """The install script and its settings on each path: cncfdemo-install.service at boot
    (both from the aws-demo user-data) and the Packer template (the repository's script,
    with only the version, as packer/node-image.pkr.hcl passes it)."""
    masters = next(t for t in render.user_data(program_run("aws-demo")).values()
                   if "/etc/sysconfig/kubernetes-master" in written_files(t))
    files = written_files(masters)
    settings = env_file(files["/etc/sysconfig/kubernetes-cluster"])
    packer_script = (cloud_init.SCRIPTS_DIR / "install-kubernetes.sh").read_text()
    return {
        "user-data": (files["/usr/local/lib/cncfdemo/install-kubernetes.sh"], settings),
        "packer": (packer_script, {"KUBERNETES_VERSION": settings["KUBERNETES_VERSION"]}),
    }


@pytest.mark.parametrize("path", ["user-data", "packer"])
def test_install_script_uses_the_minor_repository_of_pkgs_k8s_io(program_run, tmp_path, path):
    script, settings = install_paths(program_run)[path]
    version = settings["KUBERNETES_VERSION"]
    repository = "https://pkgs.k8s.io/core:/stable:/v{}.{}/deb/".format(*version.split(".")[:2])

    etc = run_install_script(tmp_path, script, settings)

    downloads = {call.split()[-3]: call.split()[-1] for call in stand_in_calls(tmp_path, "curl")}
    assert downloads == {
        f"{repository}Release.key": "/etc/apt/keyrings/kubernetes.asc",
        "https://download.docker.com/linux/debian/gpg": "/etc/apt/keyrings/containerd.asc",
    }
    assert (etc / "apt/keyrings/kubernetes.asc").is_file()
    assert (etc / "apt/sources.list.d/kubernetes.list").read_text() == (
        f"deb [signed-by=/etc/apt/keyrings/kubernetes.asc] {repository} /\n")

    assert stand_in_calls(tmp_path, "apt-get") == [
        "update -q",
        "install -y -q --no-install-recommends containerd.io=2.* "
        f"kubelet={version}-* kubeadm={version}-* kubectl={version}-*",
    ]
    assert stand_in_calls(tmp_path, "apt-mark")[-1] == "hold kubelet kubeadm kubectl containerd.io"
    assert "SystemdCgroup = true" in (etc / "containerd/config.toml").read_text()
    assert stand_in_calls(tmp_path, "gpg") == []
