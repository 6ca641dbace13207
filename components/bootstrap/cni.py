"""The pod network the first master applies: a maintained CNI, pinned by version."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cni:
    name: str
    version: str
    manifest_url: str
    """Applied with `kubectl apply --server-side` by the first master after `kubeadm init`."""


# Calico's manifest install (no operator); kubeadm-master.sh sets the pod range in it. Calico
# encapsulates pod traffic in IP-in-IP (IP protocol 4) and peers over BGP (TCP 179): the nodes'
# firewall must let nodes reach each other on both.
CALICO_VERSION = "v3.32.3"
CALICO = Cni(
    name="calico",
    version=CALICO_VERSION,
    manifest_url=(f"https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/"
                  "manifests/calico.yaml"),
)
