"""User-data parameters for a boot test that does not go through a stack: fresh PKI, test values.

Used until a stack renders launch templates; the CA and keys are made here with `cryptography`
the way the program makes them with pulumi-tls (self-signed CAs, an RSA service-account key).
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cloud_init import UserDataParams
from components.bootstrap.cni import CALICO
from components.bootstrap.credentials import ca_cert_hash


def _key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _ca(common_name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key)


def _token() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return (''.join(secrets.choice(alphabet) for _ in range(6)) + "."
            + ''.join(secrets.choice(alphabet) for _ in range(16)))


def make_params(cluster_name: str, master_count: int, prebuilt: bool) -> UserDataParams:
    ca_cert, ca_key = _ca("kubernetes")
    front_proxy_cert, front_proxy_key = _ca("front-proxy-ca")
    etcd_cert, etcd_key = _ca("etcd-ca")
    service_account = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return UserDataParams(
        cluster_name=cluster_name,
        kubernetes_version="1.35.3",
        master_count=master_count,
        pod_cidr="10.244.0.0/16",
        service_cidr="10.96.0.0/12",
        public_api_endpoint=f"https://api.{cluster_name}.example.com:6443",
        cni_name=CALICO.name,
        cni_manifest_url=CALICO.manifest_url,
        token=_token(),
        ca_cert_hash=ca_cert_hash(ca_cert),
        ca_cert_pem=ca_cert,
        certificate_key=secrets.token_hex(32),
        ca_key_pem=ca_key,
        front_proxy_ca_cert_pem=front_proxy_cert,
        front_proxy_ca_key_pem=front_proxy_key,
        etcd_ca_cert_pem=etcd_cert,
        etcd_ca_key_pem=etcd_key,
        service_account_key_pem=_key_pem(service_account),
        service_account_public_pem=service_account.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        node_image_prebuilt=prebuilt,
    )
