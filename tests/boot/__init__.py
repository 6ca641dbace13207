"""Boots rendered user-data in a real Debian userland: systemd as PID 1, cloud-init, stand-ins.

    userland.py  the debootstrapped root, cached as a trimmed tarball, unpacked fresh per boot
    machine.py   prepares a root for one boot and runs it under systemd-nspawn
    standins.py  kubeadm, kubelet, kubectl and containerd that record their calls, as .deb
                 packages and as a local apt repository served from a bind-mounted folder
    image/       files the test places in the root: the recorder and the results collector
"""
