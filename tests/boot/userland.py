"""The Debian userland the boot test runs: debootstrapped once, cached as a trimmed tarball.

The tarball is keyed by everything that shapes it, so changing the package list rebuilds it.
It lives in `$XDG_CACHE_HOME/cncfdemo/boot` (default `~/.cache/...`), outside the work tree, so
every checkout on the machine (and CI on the same machine) shares it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SUITE = "bookworm"
VARIANT = "minbase"

# cloud-init stays unconfigured without python3-cffi-backend. curl and ca-certificates are on
# every stock cloud image, and the install script fetches the repositories' keys with curl.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "cloud-init", "iproute2", "python3-cffi-backend",
            "curl", "ca-certificates")

# What a booted test machine never needs; dropping it halves the tarball.
TRIMMED = ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*",
           "usr/share/doc/*", "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*")

# Bump when the way the tarball is made changes.
FORMAT = 1

BUILD_TIMEOUT = 600


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cncfdemo" / "boot"


def cache_key() -> str:
    recipe = f"{FORMAT} {SUITE} {VARIANT} {' '.join(sorted(PACKAGES))}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def tarball(debootstrap: str, zstd: str) -> Path:
    """The cached tarball of the userland, built first if missing (about a minute)."""
    path = cache_dir() / f"debian-{SUITE}-{VARIANT}-{cache_key()}.tar.zst"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Test runs of other checkouts on this machine wait for one build instead of each building.
    with (path.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            _build(path, debootstrap, zstd)
    return path


def _build(path: Path, debootstrap: str, zstd: str) -> None:
    with tempfile.TemporaryDirectory(dir=path.parent, prefix="build-") as work:
        root = Path(work) / "root"
        result = subprocess.run(
            [debootstrap, f"--variant={VARIANT}", f"--include={','.join(PACKAGES)}", SUITE,
             str(root)],
            capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
        if result.returncode != 0:
            log = root / "debootstrap" / "debootstrap.log"
            detail = log.read_text(errors="replace")[-4000:] if log.exists() else result.stderr
            raise RuntimeError(f"debootstrap failed ({result.returncode}):\n{detail}")
        _trim(root)
        partial = Path(work) / "rootfs.tar.zst"
        _pack(root, partial, zstd)
        # Rename last, so an interrupted build never leaves a tarball that looks complete.
        partial.rename(path)


def _trim(root: Path) -> None:
    for pattern in TRIMMED:
        for found in root.glob(pattern):
            if found.is_dir() and not found.is_symlink():
                shutil.rmtree(found)
            else:
                found.unlink()


def _pack(root: Path, out: Path, zstd: str) -> None:
    with out.open("wb") as sink:
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-cf", "-", "."],
                               stdout=subprocess.PIPE)
        subprocess.run([zstd, "-q", "-T0", "-3"], stdin=tar.stdout, stdout=sink, check=True)
        tar.stdout.close()
        if tar.wait() != 0:
            raise RuntimeError(f"tar of {root} failed")


def unpack(archive: Path, dest: Path, zstd: str) -> Path:
    """A fresh copy of the userland at `dest` (under a second)."""
    dest.mkdir(parents=True)
    with archive.open("rb") as source:
        unzstd = subprocess.Popen([zstd, "-dc"], stdin=source, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-C", str(dest), "--numeric-owner", "-xpf", "-"],
                       stdin=unzstd.stdout, check=True, timeout=120)
        unzstd.stdout.close()
        if unzstd.wait(timeout=120) != 0:
            raise RuntimeError(f"zstd could not read {archive}")
    return dest
