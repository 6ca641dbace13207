#!/usr/bin/python3
"""Stands in for a Kubernetes binary that cannot run here: records how it was called, succeeds.

Installed as /usr/bin/kubeadm, /usr/bin/kubelet, ... Each call appends one JSON line to
/boot-test/calls.jsonl: the program name, argv, stdin (when it is a pipe or a file), the files
named by its arguments (so `--config FILE` is seen as kubeadm read it), the caller's systemd unit
and the environment variables the bootstrap passes on. What it prints comes from
/usr/share/cncfdemo-standins/<program>.json ({"arguments joined by spaces": "stdout"}), for the
few outputs the scripts read.
"""

import fcntl
import json
import os
import stat
import sys

RECORD = "/boot-test/calls.jsonl"
RESPONSES = "/usr/share/cncfdemo-standins"
ENV_KEPT = ("NODE_IP", "API_ENDPOINT", "MASTER_COUNT", "CLUSTER_NAME", "NODE_ROLE",
            "KUBERNETES_VERSION")


def stdin_text():
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return None
    # A terminal or an inherited socket could block forever; only pipes and files are read.
    if stat.S_ISFIFO(mode) or stat.S_ISREG(mode):
        return sys.stdin.buffer.read().decode(errors="replace")
    return None


def named_files(args):
    found = {}
    for arg in args:
        path = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if path.startswith("/") and os.path.isfile(path):
            with open(path, errors="replace") as handle:
                found[path] = handle.read()
    return found


def caller_unit():
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            leaf = line.strip().rsplit("/", 1)[-1]
            if leaf.endswith((".service", ".scope")):
                return leaf
    return None


def response(program, args):
    path = os.path.join(RESPONSES, program + ".json")
    if not os.path.isfile(path):
        return ""
    with open(path) as handle:
        return json.load(handle).get(" ".join(args), "")


def main():
    call = {
        "program": os.path.basename(sys.argv[0]),
        "argv": sys.argv[1:],
        "stdin": stdin_text(),
        "files": named_files(sys.argv[1:]),
        "unit": caller_unit(),
        "env": {key: os.environ[key] for key in ENV_KEPT if key in os.environ},
    }
    if os.path.isdir(os.path.dirname(RECORD)):
        with open(RECORD, "a") as record:
            fcntl.flock(record, fcntl.LOCK_EX)
            record.write(json.dumps(call) + "\n")
    else:
        print(f"stand-in {call['program']}: {call['argv']}", file=sys.stderr)
    sys.stdout.write(response(call["program"], call["argv"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
