#!/bin/bash
# Runs inside the booted test machine: waits for boot (cloud-init included) to settle, copies
# what the test asserts on to /boot-test (a folder the host bind-mounts), then powers off.
# Arguments: the units to report on.
set -u
out=/boot-test
mkdir -p "$out/units" "$out/files"

# "starting" lasts until the job queue is empty, which includes units that runcmd started.
timeout 60 systemctl is-system-running --wait > "$out/system-state.txt" 2>&1
timeout 30 cloud-init status --wait --long > "$out/cloud-init-status.txt" 2>&1
cp /run/cloud-init/result.json "$out/cloud-init-result.json" 2>/dev/null
cp /var/log/cloud-init.log /var/log/cloud-init-output.log "$out/" 2>/dev/null

for unit in "$@"; do
  systemctl show --no-pager "$unit" > "$out/units/$unit.show" 2>&1
  systemctl status --no-pager --full "$unit" > "$out/units/$unit.status" 2>&1
  journalctl --no-pager -o cat -u "$unit" > "$out/units/$unit.journal" 2>&1
done
systemctl list-units --all --no-pager --failed > "$out/failed-units.txt" 2>&1

# What the package installs left behind, and copies of the public files the test reads.
dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n' > "$out/packages.txt" 2>&1
apt-mark showhold > "$out/held-packages.txt" 2>&1
for file in /etc/kubernetes/pki/ca.crt /etc/cncfdemo/ca.crt /etc/cncfdemo/ca-cert-hash \
    /etc/apt/sources.list.d/*.list /etc/containerd/config.toml; do
  [ -f "$file" ] && cp --parents "$file" "$out/files/"
done

# Mode, owner, group and type of everything the bootstrap may have written.
find /etc/kubernetes /etc/cncfdemo /etc/sysconfig /usr/local/lib/cncfdemo \
  -exec stat -c '%a %U %G %F %n' {} + > "$out/modes.txt" 2>/dev/null

journalctl --no-pager -b > "$out/journal.txt" 2>&1
touch "$out/collected"
systemctl poweroff --no-block
