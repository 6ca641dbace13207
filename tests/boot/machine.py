"""One boot of a test machine: a fresh userland, a NoCloud seed, systemd-nspawn, the results.

The machine has a private network with only a loopback device. What the test asserts on is
written from inside by `image/collect.sh` into a bind-mounted folder, after which the machine
powers itself off; every wait is bounded, and a machine that overruns is stopped and killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_FILES = Path(__file__).parent / "image"

RESULTS_MOUNT = "/boot-test"
SEED_MOUNT = "/var/lib/cloud/seed/nocloud"

# The collector gives boot 60 s to settle (image/collect.sh); a boot that passes takes seconds.
BOOT_TIMEOUT = 120
STOP_GRACE = 15

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Only NoCloud (the seed) is looked for, so cloud-init does not probe cloud metadata services.
# minbase has no locales, so cloud-init's default locale would fail; C.UTF-8 is built into libc.
CLOUD_CFG = """\
datasource_list: [ NoCloud, None ]
locale: C.UTF-8
"""

COLLECT_UNIT = """\
[Unit]
Description=Boot test: collect results, then power off

[Service]
Type=simple
ExecStart=/usr/local/sbin/boot-test-collect {units}

[Install]
WantedBy=multi-user.target
"""

# Puts the node's own address on the loopback device (the machine has no other), before
# cloud-init and the bootstrap units look for it.
LOOPBACK_ADDRESS_UNIT = """\
[Unit]
Description=Boot test: the node address, on loopback
DefaultDependencies=no
Before=cloud-init-local.service network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/ip address add {address}/32 dev lo

[Install]
WantedBy=sysinit.target
"""


@dataclass
class MachineSpec:
    """What one boot needs beyond the userland: user-data and what the test adds to the image."""

    user_data: str
    hostname: str
    report_units: tuple[str, ...]
    node_address: str
    hosts: list[tuple[str, str]] = field(default_factory=list)  # (address, name) in /etc/hosts
    binds_ro: dict[Path, str] = field(default_factory=dict)  # host folder -> path inside


def prepare(root: Path, spec: MachineSpec) -> None:
    """Adds the test's files to an unpacked userland (the user-data is not touched)."""
    (root / "etc/cloud/cloud.cfg.d/90-boot-test.cfg").write_text(CLOUD_CFG)

    collector = root / "usr/local/sbin/boot-test-collect"
    shutil.copyfile(IMAGE_FILES / "collect.sh", collector)
    collector.chmod(0o755)
    _install_unit(root, "boot-test-collect.service", "multi-user.target",
                  COLLECT_UNIT.format(units=" ".join(spec.report_units)))
    _install_unit(root, "boot-test-loopback.service", "sysinit.target",
                  LOOPBACK_ADDRESS_UNIT.format(address=spec.node_address))

    # debootstrap writes no /etc/hosts; a cloud image's has localhost.
    entries = [("127.0.0.1", "localhost"), ("::1", "localhost"), *spec.hosts]
    (root / "etc/hosts").write_text("".join(f"{address} {name}\n" for address, name in entries))


def _install_unit(root: Path, name: str, wanted_by: str, content: str) -> None:
    unit = root / "etc/systemd/system" / name
    unit.write_text(content)
    wants = root / "etc/systemd/system" / f"{wanted_by}.wants"
    wants.mkdir(exist_ok=True)
    (wants / name).symlink_to(f"/etc/systemd/system/{name}")


@dataclass
class BootResult:
    results: Path
    console: str

    def unit(self, name: str) -> dict[str, str]:
        """`systemctl show` of a unit, as a dict."""
        text = (self.results / "units" / f"{name}.show").read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def calls(self, program: str | None = None) -> list[dict]:
        """Every recorded stand-in call, in order (optionally only one program's)."""
        record = self.results / "calls.jsonl"
        if not record.exists():
            return []
        calls = [json.loads(line) for line in record.read_text().splitlines()]
        return [c for c in calls if program is None or c["program"] == program]

    def modes(self) -> dict[str, tuple[str, str, str, str]]:
        """Path -> (octal mode, owner, group, file type) under the bootstrap's folders."""
        found = {}
        for line in (self.results / "modes.txt").read_text().splitlines():
            mode, owner, group, rest = line.split(" ", 3)
            kind, _, path = rest.rpartition(" ")
            found[path] = (mode, owner, group, kind)
        return found

    def text(self, name: str) -> str:
        path = self.results / name
        return path.read_text(errors="replace") if path.exists() else f"({name} missing)"

    def diagnostics(self) -> str:
        """What to print when an assertion fails: cloud-init's state, the console's tail."""
        return "\n".join([
            "--- cloud-init status ---", self.text("cloud-init-status.txt"),
            "--- cloud-init-output.log (tail) ---", self.text("cloud-init-output.log")[-3000:],
            "--- failed units ---", self.text("failed-units.txt"),
            *(f"--- journal of {journal.name[:-len('.journal')]} (tail) ---\n"
              + journal.read_text(errors="replace")[-2000:]
              for journal in sorted((self.results / "units").glob("*.journal"))),
            "--- console (tail) ---", self.console[-6000:],
        ])


class BootError(AssertionError):
    pass


def boot(nspawn: str, root: Path, spec: MachineSpec, work: Path) -> BootResult:
    """Boots `root` once with the spec's user-data; returns when the machine powered off."""
    seed = work / "seed"
    results = work / "results"
    seed.mkdir()
    results.mkdir()
    (seed / "user-data").write_text(spec.user_data)
    # A fresh instance-id, so cloud-init runs its once-per-instance modules.
    (seed / "meta-data").write_text(
        f"instance-id: iid-boot-test-{uuid.uuid4().hex[:12]}\nlocal-hostname: {spec.hostname}\n")

    command = [nspawn, "--quiet", "-D", str(root), "-b", "--register=no", "--keep-unit",
               "--private-network", "--volatile=overlay", f"--machine={spec.hostname}",
               f"--bind-ro={seed}:{SEED_MOUNT}", f"--bind={results}:{RESULTS_MOUNT}"]
    command += [f"--bind-ro={host}:{inside}" for host, inside in spec.binds_ro.items()]

    console_path = work / "console.log"
    with console_path.open("wb") as console:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=console,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            returncode = process.wait(timeout=BOOT_TIMEOUT)
        except subprocess.TimeoutExpired:
            _stop(process)
            raise BootError(f"the machine did not power off within {BOOT_TIMEOUT}s; console:\n"
                            f"{_console_text(console_path)[-8000:]}") from None
        except BaseException:
            # Interrupted (Ctrl-C): the machine must not outlive the test run.
            _stop(process)
            raise

    result = BootResult(results=results, console=_console_text(console_path))
    if returncode != 0 or not (results / "collected").exists():
        raise BootError(f"systemd-nspawn exited {returncode} before the results were collected"
                        f"\n{result.diagnostics()}")
    return result


def _console_text(path: Path) -> str:
    return _ANSI.sub("", path.read_text(errors="replace"))


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM asks nspawn for an orderly poweroff; failing that, the machine is killed."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        _kill(process)


def _kill(process: subprocess.Popen) -> None:
    """Kills the machine's init, which ends its PID namespace, then nspawn.

    Killing only nspawn would leave the machine running, re-parented to the host's init.
    """
    for pid in _children(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.kill()
    process.wait(timeout=STOP_GRACE)


def _children(parent: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
            if fields.get("PPid", "").strip() == str(parent):
                found.append(int(status.parent.name))
    return found
