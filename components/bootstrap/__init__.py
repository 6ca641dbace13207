"""The cluster's PKI, join secrets and node user-data, shared by every provider.

`ClusterBootstrap` makes in the program, as secrets: the cluster, front-proxy and etcd CAs, the
service-account key pair, a kubeadm bootstrap token and the certificate key that encrypts the
control-plane certificates `kubeadm init --upload-certs` shares. From them it derives the admin
kubeconfig (so the program can deploy workloads in the same run) and the `#cloud-config`
user-data of masters and minions (rendered by `cloud_init.render_user_data`).

Every kubeadm call on the nodes uses the stable name `masters.<cluster>.k8s:6443`; the provider
keeps that name resolving to the masters' private addresses.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_random as random
import pulumi_tls as tls

import cloud_init
from components.bootstrap.cni import CALICO, Cni
from components.bootstrap.credentials import (
    ADMIN_GROUP,
    ADMIN_USER,
    admin_kubeconfig,
    ca_cert_hash,
)

__all__ = ["CALICO", "ClusterBootstrap", "ClusterBootstrapArgs", "Cni"]

# kubeadm's own lifetimes: ten years for a CA, one for a client certificate (renewed by the
# program when fewer than 30 days remain).
CA_VALIDITY_HOURS = 10 * 365 * 24
CLIENT_VALIDITY_HOURS = 365 * 24
CLIENT_EARLY_RENEWAL_HOURS = 30 * 24

_VERSION = re.compile(r"^1\.\d+\.\d+$")
_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")

Role = Literal["masters", "minions"]


@dataclass(frozen=True)
class ClusterBootstrapArgs:
    cluster_name: str
    """Names the cluster, its DNS name (masters.<cluster>.k8s) and every child resource."""
    kubernetes_version: str
    """major.minor.patch, e.g. 1.35.3: the packages installed and the control plane's version."""
    master_count: int
    """How many masters the first one waits for before choosing itself; at least 1."""
    pod_cidr: str
    service_cidr: str
    public_api_endpoint: pulumi.Input[str]
    """Where admins reach the API, e.g. https://<load balancer>:6443: the admin kubeconfig's
    server. Its host goes into the API server certificate."""
    api_server_names: Sequence[pulumi.Input[str]] = ()
    """Extra names or addresses for the API server certificate (the load balancer's name)."""
    node_image_prebuilt: bool = False
    """True when nodes boot the Packer image; only informs the nodes (the install unit decides
    by the image's marker file)."""
    cni: Cni = CALICO
    cloud_provider_external: bool = False
    """Run the kubelet with --cloud-provider=external (the stack runs a cloud controller)."""
    fqdn_node_names: bool = False
    """Name nodes by their full host name. AWS's cloud controller needs it: it finds the
    instance behind a node by its private DNS name (ip-10-0-1-5.ec2.internal); a node named
    ip-10-0-1-5 keeps its uninitialized taint and is deleted."""

    def __post_init__(self) -> None:
        problems = []
        if not _LABEL.match(self.cluster_name):
            problems.append(f"cluster_name {self.cluster_name!r} must be a DNS label of at most "
                            "32 characters")
        if not _VERSION.match(self.kubernetes_version):
            problems.append(f"kubernetes_version {self.kubernetes_version!r} is not like 1.35.3")
        if self.master_count < 1:
            problems.append(f"master_count must be at least 1, not {self.master_count}")
        for name in ("pod_cidr", "service_cidr"):
            try:
                ipaddress.IPv4Network(getattr(self, name))
            except ValueError as err:
                problems.append(f"{name} {getattr(self, name)!r} is not an IPv4 range ({err})")
        if problems:
            raise ValueError("ClusterBootstrapArgs: " + "; ".join(problems))


@dataclass(frozen=True)
class _Authority:
    key: tls.PrivateKey
    cert: tls.SelfSignedCert


class ClusterBootstrap(pulumi.ComponentResource):
    admin_kubeconfig: pulumi.Output[str]
    """Secret. The cluster admin's kubeconfig, pointing at public_api_endpoint."""
    ca_cert_pem: pulumi.Output[str]
    ca_cert_hash: pulumi.Output[str]
    """sha256:<hex> of the cluster CA's public key, for kubeadm join's discovery."""
    token: pulumi.Output[str]
    """Secret. The kubeadm bootstrap token nodes join with."""
    certificate_key: pulumi.Output[str]
    """Secret. Decrypts the control-plane certificates for `join --control-plane`."""
    api_endpoint: str
    """The in-cluster endpoint every kubeadm call uses: masters.<cluster>.k8s:6443."""

    def __init__(self, name: str, args: ClusterBootstrapArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:bootstrap:ClusterBootstrap", name, None, opts)
        self._args = args
        self.api_endpoint = cloud_init.api_endpoint(args.cluster_name)

        # certificate authorities, as kubeadm names them under /etc/kubernetes/pki
        self._ca = self._authority(f"{name}-ca", "kubernetes")
        self._front_proxy_ca = self._authority(f"{name}-front-proxy-ca", "front-proxy-ca")
        self._etcd_ca = self._authority(f"{name}-etcd-ca", "etcd-ca")
        self._service_account_key = tls.PrivateKey(
            f"{name}-service-account-key", algorithm="RSA", rsa_bits=2048,
            opts=self._child())

        # join secrets: kubeadm treats a token's id as public and its second half as the secret,
        # so only that half is a RandomPassword (whose result the state keeps encrypted)
        token_id = random.RandomString(f"{name}-token-id", length=6, upper=False,
                                       special=False, opts=self._child())
        token_secret = random.RandomPassword(f"{name}-token-secret", length=16, upper=False,
                                             special=False, opts=self._child())
        self.token = pulumi.Output.secret(
            pulumi.Output.concat(token_id.result, ".", token_secret.result))
        certificate_key = random.RandomBytes(f"{name}-certificate-key", length=32,
                                             opts=self._child())
        self.certificate_key = pulumi.Output.secret(certificate_key.hex)

        self.ca_cert_pem = self._ca.cert.cert_pem
        self.ca_cert_hash = self.ca_cert_pem.apply(ca_cert_hash)
        self.admin_kubeconfig = self._admin_kubeconfig(name)
        self._user_data: dict[str, pulumi.Output[str]] = {}

        self.register_outputs({
            "adminKubeconfig": self.admin_kubeconfig,
            "caCertPem": self.ca_cert_pem,
            "caCertHash": self.ca_cert_hash,
            "token": self.token,
            "certificateKey": self.certificate_key,
        })

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _authority(self, name: str, common_name: str) -> _Authority:
        # ECDSA P-256: a tenth of an RSA key's size, which keeps the masters' user-data (three
        # CA keys) well inside EC2's 16 KiB; kubeadm signs with whichever key type it finds.
        key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256",
                             opts=self._child())
        cert = tls.SelfSignedCert(
            name,
            private_key_pem=key.private_key_pem,
            is_ca_certificate=True,
            set_subject_key_id=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name=common_name),
            validity_period_hours=CA_VALIDITY_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=self._child(),
        )
        return _Authority(key, cert)

    def _admin_kubeconfig(self, name: str) -> pulumi.Output[str]:
        key = tls.PrivateKey(f"{name}-admin-key", algorithm="ECDSA", ecdsa_curve="P256",
                             opts=self._child())
        request = tls.CertRequest(
            f"{name}-admin-request",
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=ADMIN_USER, organization=ADMIN_GROUP),
            opts=self._child(),
        )
        cert = tls.LocallySignedCert(
            f"{name}-admin-cert",
            cert_request_pem=request.cert_request_pem,
            ca_cert_pem=self._ca.cert.cert_pem,
            ca_private_key_pem=self._ca.key.private_key_pem,
            validity_period_hours=CLIENT_VALIDITY_HOURS,
            early_renewal_hours=CLIENT_EARLY_RENEWAL_HOURS,
            allowed_uses=["client_auth", "digital_signature", "key_encipherment"],
            opts=self._child(),
        )
        kubeconfig = pulumi.Output.all(
            server=self._args.public_api_endpoint,
            ca=self._ca.cert.cert_pem,
            cert=cert.cert_pem,
            key=key.private_key_pem,
        ).apply(lambda v: admin_kubeconfig(self._args.cluster_name, v["server"], v["ca"],
                                           v["cert"], v["key"]))
        return pulumi.Output.secret(kubeconfig)

    def user_data(self, role: Role) -> pulumi.Output[str]:
        """Secret. The full `#cloud-config` text of a node of this role (not base64-encoded)."""
        if role not in cloud_init.ROLES:
            raise ValueError(f"role must be one of {cloud_init.ROLES}, not {role!r}")
        if role not in self._user_data:
            self._user_data[role] = pulumi.Output.secret(
                self._node_params().apply(lambda p: cloud_init.render_user_data(role, p)))
        return self._user_data[role]

    def _node_params(self) -> pulumi.Output[cloud_init.UserDataParams]:
        args = self._args
        values = pulumi.Output.all(
            public_api_endpoint=args.public_api_endpoint,
            api_server_names=pulumi.Output.all(*args.api_server_names),
            token=self.token,
            certificate_key=self.certificate_key,
            ca_cert_hash=self.ca_cert_hash,
            ca_cert_pem=self._ca.cert.cert_pem,
            ca_key_pem=self._ca.key.private_key_pem,
            front_proxy_ca_cert_pem=self._front_proxy_ca.cert.cert_pem,
            front_proxy_ca_key_pem=self._front_proxy_ca.key.private_key_pem,
            etcd_ca_cert_pem=self._etcd_ca.cert.cert_pem,
            etcd_ca_key_pem=self._etcd_ca.key.private_key_pem,
            service_account_key_pem=self._service_account_key.private_key_pem,
            service_account_public_pem=self._service_account_key.public_key_pem,
        )
        return values.apply(lambda v: cloud_init.UserDataParams(
            cluster_name=args.cluster_name,
            kubernetes_version=args.kubernetes_version,
            master_count=args.master_count,
            pod_cidr=args.pod_cidr,
            service_cidr=args.service_cidr,
            cni_name=args.cni.name,
            cni_manifest_url=args.cni.manifest_url,
            node_image_prebuilt=args.node_image_prebuilt,
            cloud_provider_external=args.cloud_provider_external,
            fqdn_node_names=args.fqdn_node_names,
            **{**v, "api_server_names": tuple(n for n in v["api_server_names"] if n)},
        ))
