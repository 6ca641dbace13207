"""Plain functions over the PKI's PEM text: the CA pin kubeadm joins with, the admin kubeconfig."""

from __future__ import annotations

import base64
import hashlib

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

# Kubeadm (1.29 and later) binds this group to cluster-admin when it initialises the cluster
# (ClusterRoleBinding kubeadm:cluster-admins). Unlike system:masters, which the API server lets
# past RBAC unconditionally, the binding can be revoked if the credential leaks.
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "kubeadm:cluster-admins"


def ca_cert_hash(ca_cert_pem: str) -> str:
    """`sha256:<hex>` of the CA's SubjectPublicKeyInfo: `--discovery-token-ca-cert-hash`."""
    cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def _b64(pem: str) -> str:
    return base64.b64encode(pem.encode()).decode()


def admin_kubeconfig(cluster_name: str, server: str, ca_cert_pem: str, client_cert_pem: str,
                     client_key_pem: str) -> str:
    """A kubeconfig with one context: the admin's client certificate against `server`."""
    user = f"{cluster_name}-admin"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {
            "server": server,
            "certificate-authority-data": _b64(ca_cert_pem),
        }}],
        "users": [{"name": user, "user": {
            "client-certificate-data": _b64(client_cert_pem),
            "client-key-data": _b64(client_key_pem),
        }}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)
