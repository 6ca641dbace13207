"""What a stack run made for its nodes: their user-data, and the join values to expect on them.

The expectations come from the program's side, not from the user-data under test: the token from
the random strings the program registered (recomputed by the same mocks that answered the run),
the CA hash from the CA in the stack's admin kubeconfig output.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import pulumi
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cncfdemo import render
from cncfdemo.harness import Run
from cncfdemo.mocks import DemoMocks

TOKEN_PARTS = {"token-id": "random:index/randomString:RandomString",
               "token-secret": "random:index/randomPassword:RandomPassword"}
ROLE_FILES = {"/etc/sysconfig/kubernetes-master": "masters",
              "/etc/sysconfig/kubernetes-minion": "minions"}


@dataclass(frozen=True)
class StackNodes:
    cluster_name: str
    kubernetes_version: str
    master_count: int
    token: str
    ca_cert_hash: str
    user_data: dict[str, str]  # role -> #cloud-config

    @property
    def endpoint(self) -> str:
        return f"masters.{self.cluster_name}.k8s:6443"


def stack_nodes(run: Run) -> StackNodes:
    counts = {group["role"]: int(group["count"]) for group in run.outputs["nodeGroups"]}
    return StackNodes(
        cluster_name=run.outputs["clusterName"],
        kubernetes_version=run.outputs["kubernetesVersion"],
        master_count=counts["masters"],
        token=_token(run),
        ca_cert_hash=spki_sha256(_kubeconfig_ca(run.outputs["kubeconfig"])),
        user_data=_user_data_by_role(run),
    )


def _user_data_by_role(run: Run) -> dict[str, str]:
    """Each node group's user-data, keyed by the role file it writes."""
    found: dict[str, str] = {}
    for name, text in render.user_data(run).items():
        paths = {f["path"] for f in yaml.safe_load(text)["write_files"]}
        roles = {ROLE_FILES[p] for p in paths & ROLE_FILES.keys()}
        if len(roles) != 1:
            raise AssertionError(f"{name} writes {len(roles)} role files, not one")
        (role,) = roles
        if role in found:
            raise AssertionError(f"two node groups write the {role} role file")
        found[role] = text
    return found


def _token(run: Run) -> str:
    """<id>.<secret> from the program's two random values, as the mocks produced them."""
    parts = {}
    for part, type_ in TOKEN_PARTS.items():
        for resource in run.of_type(type_):
            if resource.name.endswith(f"-{part}"):
                args = pulumi.runtime.MockResourceArgs(type_, resource.name,
                                                       resource.plain_inputs, custom=True)
                parts[part] = DemoMocks().new_resource(args)[1]["result"]
    if len(parts) != 2:
        raise AssertionError(f"the program registered no bootstrap token strings: {parts}")
    return f"{parts['token-id']}.{parts['token-secret']}"


def _kubeconfig_ca(kubeconfig: str) -> str:
    config = yaml.safe_load(kubeconfig)
    (cluster,) = config["clusters"]
    return base64.b64decode(cluster["cluster"]["certificate-authority-data"]).decode()


def spki_sha256(ca_cert_pem: str) -> str:
    """kubeadm's CA pin: sha256 of the certificate's DER SubjectPublicKeyInfo."""
    cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()
