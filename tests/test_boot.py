"""The node user-data, booted for real: systemd as PID 1 and cloud-init in a Debian userland.

A master and a minion each boot twice under systemd-nspawn:

- prebuilt: the image already holds the packages (as packer/ leaves it, with
  /etc/cncfdemo/image-prebuilt), so cncfdemo-install.service is skipped;
- install-at-boot: a stock image, where cncfdemo-install.service runs the install script.

The nodes' network fetches are replaced by local files, bind-mounted read-only at /srv/downloads
and named through the scripts' own variables in /etc/default/cncfdemo (the override file every
cncfdemo unit reads): the package repositories, laid out like pkgs.k8s.io and Docker's and signed
with a throwaway key, and an excerpt of Calico's manifest with the lines kubeadm-master.sh edits.

kubeadm, kubelet, kubectl and containerd are stand-ins that record how they were called
(tests/boot/standins.py); so are modprobe and sysctl, since a container can neither load kernel
modules nor see the bridge sysctls.

The machine has no network but its loopback device: masters.<cluster>.k8s resolves through
/etc/hosts to addresses in 127.0.1.0/24, and the node's own address (NODE_IP) is put on loopback,
the lowest of them for the master, so that it is the master that runs kubeadm init.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import require_tool

from cloud_init import ROLE_UNITS, UNITS
from tests.boot import machine, standins, userland
from tests.boot.stack import StackNodes, spki_sha256, stack_nodes

pytestmark = pytest.mark.slow

STACK = "aws-demo"
# The same stack with a prebuilt node image (any AMI id: the render never looks it up).
PREBUILT_OVERRIDES = {"nodeImage": "ami-0123456789abcdef0"}

# Every address is on loopback (127.0.0.0/8): nothing leaves the machine's private network.
MINION_ADDRESS = "127.0.1.200"


def master_addresses(count: int) -> list[str]:
    return [f"127.0.1.{10 + i}" for i in range(count)]


# What the nodes would download, as local files: the package repositories and the CNI manifest.
DOWNLOADS_MOUNT = "/srv/downloads"

# The lines of Calico's manifest that kubeadm-master.sh edits, as upstream ships them.
CALICO_MANIFEST_EXCERPT = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: calico-node
  namespace: kube-system
spec:
  template:
    spec:
      containers:
        - name: calico-node
          env:
            # - name: CALICO_IPV4POOL_CIDR
            #   value: "192.168.0.0/16"
"""

ROLE_UNIT = {"masters": "kubeadm-master.service", "minions": "kubeadm-minion.service"}
ROLE_FILE = {"masters": "/etc/sysconfig/kubernetes-master",
             "minions": "/etc/sysconfig/kubernetes-minion"}


@dataclass(frozen=True)
class Scenario:
    role: str
    prebuilt: bool

    @property
    def id(self) -> str:
        path = "prebuilt" if self.prebuilt else "install-at-boot-from-local-repos"
        return f"{self.role[:-1]}-{path}"


SCENARIOS = [Scenario("masters", True), Scenario("minions", True),
             Scenario("masters", False), Scenario("minions", False)]


@pytest.fixture(scope="session")
def tools() -> dict[str, str]:
    return {name: require_tool(name) for name in (
        "debootstrap", "systemd-nspawn", "zstd", "dpkg-deb", "dpkg-scanpackages", "gpg")}


@pytest.fixture(scope="session")
def userland_tarball(tools) -> Path:
    return userland.tarball(tools["debootstrap"], tools["zstd"])


@pytest.fixture(scope="session")
def stacks(program_run) -> dict[bool, StackNodes]:
    """The stack's nodes as rendered, by whether the stack was given a prebuilt image."""
    return {False: stack_nodes(program_run(STACK)),
            True: stack_nodes(program_run(STACK, **PREBUILT_OVERRIDES))}


@dataclass(frozen=True)
class Downloads:
    root: Path  # bind-mounted at DOWNLOADS_MOUNT
    packages: list[standins.StandInPackage]  # what a node must end up with
    debs: list[Path]


def _next_patch(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


@pytest.fixture(scope="session")
def downloads(tmp_path_factory, tools, stacks) -> Downloads:
    root = tmp_path_factory.mktemp("downloads")
    (root / "cni").mkdir()
    (root / "cni/calico.yaml").write_text(CALICO_MANIFEST_EXCERPT)
    version = stacks[False].kubernetes_version
    assert stacks[True].kubernetes_version == version
    kubernetes = standins.kubernetes_packages(version)
    # A newer patch release sits beside the stack's, as in the real repository: only a pin on
    # the stack's version installs the right one.
    newer = [p for p in standins.kubernetes_packages(_next_patch(version))
             if p.name in ("kubelet", "kubeadm", "kubectl")]
    containerd = standins.containerd_packages()
    with standins.signer() as signing:
        standins.build_flat_repository(kubernetes + newer, root / "kubernetes", signing)
        standins.build_suite_repository(containerd, root / "docker", signing)
    debs = [root / "kubernetes" / p.filename for p in kubernetes]
    debs += [root / "docker/pool/stable" / p.filename for p in containerd]
    return Downloads(root=root, packages=kubernetes + containerd, debs=debs)


def _overrides(scenario: Scenario, node_ip: str) -> str:
    """/etc/default/cncfdemo: read by every cncfdemo unit after the cluster's settings."""
    # A bootstrap that waits for something that never comes gives up within the boot's bounds.
    lines = [f"NODE_IP={node_ip}", "BOOTSTRAP_TIMEOUT=20"]
    # Network fetches, replaced by the bind-mounted local files.
    lines.append(f"CNI_MANIFEST_URL=file://{DOWNLOADS_MOUNT}/cni/calico.yaml")
    if not scenario.prebuilt:
        lines += [
            f"KUBERNETES_APT_REPO=file://{DOWNLOADS_MOUNT}/kubernetes/",
            f"CONTAINERD_APT_REPO=file://{DOWNLOADS_MOUNT}/docker",
            f"CONTAINERD_APT_KEY_URL=file://{DOWNLOADS_MOUNT}/docker/gpg",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=SCENARIOS, ids=lambda s: s.id)
def booted(request, tmp_path_factory, tools, userland_tarball, stacks, downloads):
    scenario: Scenario = request.param
    work = tmp_path_factory.mktemp(scenario.id)
    root = userland.unpack(userland_tarball, work / "root", tools["zstd"])

    nodes = stacks[scenario.prebuilt]
    masters = master_addresses(nodes.master_count)
    # A master has the lowest of the masters' addresses: it is the one that runs kubeadm init.
    node_ip = masters[0] if scenario.role == "masters" else MINION_ADDRESS
    spec = machine.MachineSpec(
        user_data=nodes.user_data[scenario.role],
        hostname=f"{scenario.role[:-1]}-boot-test",
        report_units=(*UNITS, "kubelet.service", "containerd.service"),
        node_address=node_ip,
        hosts=[(address, nodes.endpoint.rsplit(":", 1)[0]) for address in masters],
        binds_ro={downloads.root: DOWNLOADS_MOUNT},
    )
    machine.prepare(root, spec)
    (root / "etc/default/cncfdemo").write_text(_overrides(scenario, node_ip))
    for tool in ("/usr/local/sbin/modprobe", "/usr/local/sbin/sysctl"):
        standins.install_tool(root, tool)

    if scenario.prebuilt:
        standins.install_into(root, downloads.debs)
        (root / "etc/cncfdemo").mkdir(exist_ok=True)
        (root / "etc/cncfdemo/image-prebuilt").touch()
    else:
        # The machine has no network, so the stock image's Debian mirror is left out.
        (root / "etc/apt/sources.list").unlink(missing_ok=True)

    boot = machine.boot(tools["systemd-nspawn"], root, spec, work)
    # The results stay for the assertions; the 200 MB userland is not needed any more.
    shutil.rmtree(root)
    return scenario, nodes, boot


def _fail(boot: machine.BootResult, message: str) -> str:
    return f"{message}\n{boot.diagnostics()}"


def test_cloud_init_finished_without_errors(booted):
    _, _, boot = booted
    result = json.loads(boot.text("cloud-init-result.json"))["v1"]
    assert result["errors"] == [], _fail(boot, f"cloud-init errors: {result['errors']}")
    assert "status: done" in boot.text("cloud-init-status.txt"), _fail(boot, "cloud-init not done")


def test_role_unit_ran_and_the_other_was_skipped(booted):
    scenario, _, boot = booted
    ran = boot.unit(ROLE_UNIT[scenario.role])
    assert (ran["ConditionResult"], ran["Result"], ran["ActiveState"], ran["ExecMainStatus"]) \
        == ("yes", "success", "active", "0"), _fail(boot, f"{ROLE_UNIT[scenario.role]}: {ran}")

    (other,) = set(ROLE_UNITS) - {ROLE_UNIT[scenario.role]}
    skipped = boot.unit(other)
    # Evaluated (a timestamp) and false: started, and skipped by ConditionPathExists.
    assert skipped["ConditionTimestampMonotonic"] != "0", _fail(boot, f"{other} never started")
    assert (skipped["ConditionResult"], skipped["ActiveState"]) == ("no", "inactive"), \
        _fail(boot, f"{other}: {skipped}")
    assert skipped["ExecMainStartTimestampMonotonic"] == "0", f"{other} ran its command"


def test_install_unit_skipped_if_prebuilt_else_installs_from_local_repos(booted):
    """Install-at-boot: the repositories are local folders in place of the network ones."""
    scenario, _, boot = booted
    install = boot.unit("cncfdemo-install.service")
    journal = boot.text("units/cncfdemo-install.service.journal")
    assert install["ConditionTimestampMonotonic"] != "0", "cncfdemo-install.service never started"
    if scenario.prebuilt:
        assert install["ConditionResult"] == "no", _fail(boot, f"install ran: {install}")
        assert "install-kubernetes" not in journal
        return
    assert (install["ConditionResult"], install["Result"], install["ActiveState"]) \
        == ("yes", "success", "active"), _fail(boot, journal)
    # The keys were fetched and used: no source is trusted without a signature.
    sources = sorted((boot.results / "files/etc/apt/sources.list.d").glob("*.list"))
    assert [s.name for s in sources] == ["containerd.list", "kubernetes.list"]
    for source in sources:
        line = source.read_text()
        assert "signed-by=/etc/apt/keyrings/" in line and "trusted=yes" not in line, line
    assert {"kubelet", "kubeadm", "kubectl", "containerd.io"} \
        <= set(boot.text("held-packages.txt").split())
    config = (boot.results / "files/etc/containerd/config.toml").read_text()
    assert "SystemdCgroup = true" in config
    assert [call["argv"] for call in boot.calls("modprobe")] == [["overlay"], ["br_netfilter"]]


def test_packages_at_the_pinned_versions(booted, downloads):
    _, _, boot = booted
    installed = {}
    for line in boot.text("packages.txt").splitlines():
        name, version, status = line.split(" ", 2)
        installed[name] = (version, status.strip())
    for package in downloads.packages:
        # db:Status-Abbrev: desired (i install, h hold), then the state (i installed).
        version, status = installed.get(package.name, (None, "--"))
        assert (version, status[1]) == (package.version, "i"), f"{package.name}: {version} {status}"


def _drop_ins(user_data: str) -> dict[str, set[str]]:
    """unit -> the drop-in paths the user-data writes for it."""
    found: dict[str, set[str]] = {}
    for path in _written_files(user_data):
        parent, _, name = path.rpartition("/")
        if parent.startswith("/etc/systemd/system/") and parent.endswith(".d") \
                and name.endswith(".conf"):
            found.setdefault(parent.rsplit("/", 1)[-1][:-2], set()).add(path)
    return found


def test_drop_ins_applied(booted):
    scenario, nodes, boot = booted
    drop_ins = _drop_ins(nodes.user_data[scenario.role])
    assert set(UNITS) <= set(drop_ins), f"units without drop-ins: {set(UNITS) - set(drop_ins)}"
    for unit, paths in drop_ins.items():
        applied = set(boot.unit(unit)["DropInPaths"].split())
        assert paths <= applied, _fail(boot, f"{unit}: drop-ins {applied}, want {paths}")
    # What the role unit's drop-in loads reached the bootstrap script.
    for call in _bootstrap_calls(boot):
        assert (call["env"].get("API_ENDPOINT"), call["env"].get("MASTER_COUNT")) \
            == (nodes.endpoint, str(nodes.master_count)), f"kubeadm's environment: {call['env']}"


def _written_files(user_data: str) -> dict[str, str]:
    """path -> permissions, as the user-data asks cloud-init to write them."""
    return {f["path"]: f.get("permissions", "0644")
            for f in yaml.safe_load(user_data)["write_files"]}


SECRET_NAMES = ("token", "certificate-key", "kubeadm-init.yaml")


def test_secret_files_readable_only_by_root(booted):
    scenario, nodes, boot = booted
    modes = boot.modes()
    written = _written_files(nodes.user_data[scenario.role])
    secrets = {path for path, permissions in written.items() if permissions == "0600"}
    # Every file holding a key or a join credential is among them.
    for path in written:
        if path.endswith(".key") or path.rsplit("/", 1)[-1] in SECRET_NAMES:
            assert path in secrets, f"{path} is not written 0600"
    assert "/etc/cncfdemo/token" in secrets
    for path in secrets:
        assert modes.get(path) == ("600", "root", "root", "regular file"), \
            _fail(boot, f"{path}: {modes.get(path)}")


def test_role_file_written(booted):
    scenario, _, boot = booted
    modes = boot.modes()
    assert ROLE_FILE[scenario.role] in modes
    others = set(ROLE_FILE.values()) - {ROLE_FILE[scenario.role]}
    assert not others & set(modes), f"both role files on a {scenario.role[:-1]}"


def _bootstrap_calls(boot: machine.BootResult) -> list[dict]:
    """The recorded `kubeadm init` and `kubeadm join` calls."""
    return [call for call in boot.calls("kubeadm") if call["argv"][:1] in (["init"], ["join"])]


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def test_kubeadm_called_with_the_endpoint_token_and_ca_hash(booted):
    scenario, nodes, boot = booted
    bootstrap = _bootstrap_calls(boot)
    assert len(bootstrap) == 1, _fail(boot, f"kubeadm init/join calls: {bootstrap}")
    (call,) = bootstrap
    assert call["unit"] == ROLE_UNIT[scenario.role]
    argv = call["argv"]

    if scenario.role == "minions":
        assert argv[:2] == ["join", nodes.endpoint]
        assert _option(argv, "--token") == nodes.token
        assert _option(argv, "--discovery-token-ca-cert-hash") == nodes.ca_cert_hash
        assert "--control-plane" not in argv
        # The CA the minion was given is the one the hash pins.
        ca = (boot.results / "files/etc/cncfdemo/ca.crt").read_text()
        assert spki_sha256(ca) == nodes.ca_cert_hash
        return

    # The lowest of the masters' addresses (this node's): it initialises the cluster.
    assert argv[0] == "init" and "--upload-certs" in argv
    config_path = _option(argv, "--config")
    documents = {d["kind"]: d for d in yaml.safe_load_all(call["files"][config_path])}
    cluster_config = documents["ClusterConfiguration"]
    assert cluster_config["controlPlaneEndpoint"] == nodes.endpoint
    assert [t["token"] for t in documents["InitConfiguration"]["bootstrapTokens"]] \
        == [nodes.token]
    # kubeadm init signs with the CA in /etc/kubernetes/pki: the one the joins' hash pins.
    ca = (boot.results / "files/etc/kubernetes/pki/ca.crt").read_text()
    assert spki_sha256(ca) == nodes.ca_cert_hash
    assert (boot.results / "files/etc/cncfdemo/ca-cert-hash").read_text().strip() \
        == nodes.ca_cert_hash
    applied = [c for c in boot.calls("kubectl") if "apply" in c["argv"]]
    assert len(applied) == 1, _fail(boot, f"the first master applied {applied}, not the CNI")
    manifest = applied[0]["files"][_option(applied[0]["argv"], "-f")]
    # The CNI's pod range is the one kubeadm was given.
    assert f'value: "{cluster_config["networking"]["podSubnet"]}"' in manifest
