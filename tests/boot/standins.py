"""Stand-ins for the Kubernetes binaries, packaged as the real ones are, in local apt repositories.

The real kubelet, kubeadm and kubectl come from pkgs.k8s.io and containerd.io from Docker's
repository; neither is reachable here, and the binaries could not run in a container anyway.
Each stand-in package carries the recorder (`image/standin.py`) under the real binary's name,
the systemd units the real package ships, and the few outputs the install script reads (such as
`containerd config default`), at the versions the install script pins.

The repositories are laid out like the real ones (pkgs.k8s.io: flat, suite "/"; Docker's:
dists/<codename>/stable) and signed with a throwaway key published beside them, so the install
script fetches the key and writes its signed-by source lines exactly as it does on a real node.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RECORDER = Path(__file__).parent / "image" / "standin.py"
# Where a stand-in looks up what to print for a given command line (see image/standin.py).
RESPONSES_DIR = "usr/share/cncfdemo-standins"

CODENAME = "bookworm"

KUBELET_UNIT = """\
[Unit]
Description=kubelet (boot-test stand-in)
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet

[Install]
WantedBy=multi-user.target
"""

# kubeadm's package adds this drop-in to kubelet.service, as the real one does.
KUBEADM_KUBELET_DROP_IN = """\
[Service]
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""

CONTAINERD_UNIT = """\
[Unit]
Description=containerd (boot-test stand-in)

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/containerd

[Install]
WantedBy=multi-user.target
"""

# The part of `containerd config default` the install script edits: runc's cgroup driver.
CONTAINERD_DEFAULT_CONFIG = """\
version = 3

[plugins]
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
    SystemdCgroup = false
"""


@dataclass(frozen=True)
class StandInPackage:
    name: str
    version: str
    binaries: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)  # path under / -> content
    responses: dict[str, dict[str, str]] = field(default_factory=dict)  # binary -> args -> stdout

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version}_amd64.deb"


def kubernetes_packages(kubernetes_version: str) -> list[StandInPackage]:
    """What pkgs.k8s.io has for one minor version, at the pinned patch (revision -1.1)."""
    version = f"{kubernetes_version}-1.1"
    return [
        StandInPackage("kubelet", version, ("kubelet",), ("kubernetes-cni",),
                       {"usr/lib/systemd/system/kubelet.service": KUBELET_UNIT}),
        StandInPackage("kubeadm", version, ("kubeadm",), ("cri-tools",),
                       {"usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf":
                        KUBEADM_KUBELET_DROP_IN},
                       {"kubeadm": {"version -o short": f"v{kubernetes_version}\n"}}),
        StandInPackage("kubectl", version, ("kubectl",)),
        StandInPackage("cri-tools", "1.35.0-1.1", ("crictl",)),
        StandInPackage("kubernetes-cni", "1.7.1-1.1"),
    ]


def containerd_packages() -> list[StandInPackage]:
    """What Docker's repository has: containerd.io, version 2."""
    return [
        StandInPackage("containerd.io", f"2.2.1-1~debian.12~{CODENAME}", ("containerd", "ctr"),
                       files={"usr/lib/systemd/system/containerd.service": CONTAINERD_UNIT},
                       responses={"containerd": {"config default": CONTAINERD_DEFAULT_CONFIG}}),
    ]


def build_deb(package: StandInPackage, out_dir: Path) -> Path:
    with tempfile.TemporaryDirectory() as work:
        tree = Path(work) / package.name
        (tree / "DEBIAN").mkdir(parents=True)
        depends = f"Depends: {', '.join(package.depends)}\n" if package.depends else ""
        (tree / "DEBIAN" / "control").write_text(
            f"Package: {package.name}\nVersion: {package.version}\nArchitecture: amd64\n"
            f"{depends}Maintainer: cncfdemo boot test <boot-test@cncfdemo.invalid>\n"
            f"Description: boot-test stand-in for {package.name}\n"
            " Records how it was called and succeeds.\n")
        for binary in package.binaries:
            _write(tree / "usr/bin" / binary, RECORDER.read_text(), 0o755)
        for binary, responses in package.responses.items():
            _write(tree / RESPONSES_DIR / f"{binary}.json", json.dumps(responses, indent=1))
        for path, content in package.files.items():
            _write(tree / path, content)
        out_dir.mkdir(parents=True, exist_ok=True)
        deb = out_dir / package.filename
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree),
                        str(deb)], check=True, capture_output=True, timeout=60)
    return deb


def _write(path: Path, content: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)


class Signer:
    """A throwaway OpenPGP signing key in its own GnuPG home (see `signer()`)."""

    def __init__(self, home: str) -> None:
        self._env = {**os.environ, "GNUPGHOME": home}

    def gpg(self, *args: str) -> bytes:
        return subprocess.run(["gpg", "--batch", "--quiet", *args], env=self._env, check=True,
                              capture_output=True, timeout=60).stdout

    def public_key(self) -> bytes:
        return self.gpg("--armor", "--export")

    def sign_release(self, release: Path) -> None:
        """InRelease and Release.gpg beside `release`, as apt looks for them."""
        self.gpg("--clearsign", "--output", str(release.parent / "InRelease"), str(release))
        self.gpg("--armor", "--detach-sign", "--output", str(release.parent / "Release.gpg"),
                 str(release))


@contextmanager
def signer() -> Iterator[Signer]:
    with tempfile.TemporaryDirectory(prefix="gnupg-") as home:
        signing = Signer(home)
        try:
            signing.gpg("--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key",
                        "cncfdemo boot test <boot-test@cncfdemo.invalid>", "ed25519", "sign",
                        "never")
            yield signing
        finally:
            # gpg started an agent for this home; it must not outlive the build.
            subprocess.run(["gpgconf", "--kill", "all"], env=signing._env, check=False,
                           capture_output=True, timeout=30)


def build_flat_repository(packages: list[StandInPackage], root: Path, signing: Signer) -> None:
    """pkgs.k8s.io's shape: `deb [signed-by=...] <url> /`, the key at <url>Release.key."""
    for package in packages:
        build_deb(package, root)
    _index(root, ".", root / "Packages")
    _release(root, ("Packages", "Packages.gz"), {})
    signing.sign_release(root / "Release")
    (root / "Release.key").write_bytes(signing.public_key())


def build_suite_repository(packages: list[StandInPackage], root: Path, signing: Signer,
                           component: str = "stable") -> None:
    """Docker's shape: `deb [signed-by=...] <url> <codename> stable`, the key at <url>/gpg."""
    pool = root / "pool" / component
    for package in packages:
        build_deb(package, pool)
    dist = root / "dists" / CODENAME
    index = f"{component}/binary-amd64/Packages"
    _index(root, f"pool/{component}", dist / index)
    _release(dist, (index, f"{index}.gz"), {
        "Suite": CODENAME, "Codename": CODENAME, "Architectures": "amd64", "Components": component,
    })
    signing.sign_release(dist / "Release")
    (root / "gpg").write_bytes(signing.public_key())


def _index(root: Path, pool: str, packages_file: Path) -> None:
    """Packages (and .gz) for the .debs under root/pool, with file names relative to root."""
    index = subprocess.run(["dpkg-scanpackages", "--multiversion", pool], cwd=root, check=True,
                           capture_output=True, timeout=60).stdout
    packages_file.parent.mkdir(parents=True, exist_ok=True)
    packages_file.write_bytes(index)
    packages_file.with_suffix(".gz").write_bytes(gzip.compress(index, mtime=0))


def _release(directory: Path, indexes: tuple[str, ...], fields: dict[str, str]) -> None:
    lines = ["Origin: cncfdemo boot test", "Label: cncfdemo boot test",
             *(f"{key}: {value}" for key, value in fields.items()),
             f"Date: {datetime.now(UTC).strftime('%a, %d %b %Y %H:%M:%S UTC')}", "SHA256:"]
    for name in indexes:
        data = (directory / name).read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    (directory / "Release").write_text("\n".join(lines) + "\n")


def install_into(root: Path, debs: list[Path]) -> None:
    """Installs stand-in packages into a userland, as baking them into an image would."""
    subprocess.run(["dpkg", f"--root={root}", "-i", *map(str, debs)], check=True,
                   capture_output=True, timeout=120)


def install_tool(root: Path, path: str) -> None:
    """A bare stand-in (no package) for a system tool the machine cannot use, e.g. modprobe."""
    _write(root / path.lstrip("/"), RECORDER.read_text(), 0o755)
