"""What the engine and the clouds would compute, filled in offline.

Keys and certificates are generated for real, so a kubeconfig or a CA hash derived from them
means something; passwords are deterministic per resource name, so two renders agree. Values
only a cloud assigns (IDs, ARNs, addresses) are recognisable placeholders.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import random
import string
from collections.abc import Callable

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

State = dict
NewResource = Callable[[str, dict], State]


def _rng(name: str) -> random.Random:
    return random.Random(hashlib.sha256(name.encode()).digest())


def _password(name: str, inputs: dict) -> State:
    length = int(inputs.get("length", 16))
    alphabet = ""
    if inputs.get("lower", True):
        alphabet += string.ascii_lowercase
    if inputs.get("upper", True):
        alphabet += string.ascii_uppercase
    if inputs.get("numeric", inputs.get("number", True)):
        alphabet += string.digits
    if inputs.get("special", True):
        alphabet += inputs.get("overrideSpecial") or "!@#%&*()-_=+[]{}<>:?"
    rng = _rng(name)
    result = "".join(rng.choice(alphabet) for _ in range(length))
    return {"result": result, "bcryptHash": "$2a$10$" + hashlib.sha256(result.encode()).hexdigest()}


def _random_bytes(name: str, inputs: dict) -> State:
    raw = _rng(name).randbytes(int(inputs.get("length", inputs.get("byteLength", 32))))
    return {
        "base64": base64.b64encode(raw).decode(),
        "hex": raw.hex(),
        "b64Std": base64.b64encode(raw).decode(),
        "b64Url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "dec": str(int.from_bytes(raw, "big")),
    }


def _private_key(name: str, inputs: dict) -> State:
    algorithm = inputs.get("algorithm", "RSA")
    if algorithm == "RSA":
        bits = int(inputs.get("rsaBits", 2048))
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    elif algorithm == "ECDSA":
        curves = {"P224": ec.SECP224R1(), "P256": ec.SECP256R1(), "P384": ec.SECP384R1(),
                  "P521": ec.SECP521R1()}
        key = ec.generate_private_key(curves[inputs.get("ecdsaCurve", "P224")])
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    traditional = pkcs8
    if algorithm in ("RSA", "ECDSA"):
        traditional = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption()).decode()
    public = key.public_key()
    public_pem = public.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    openssh = public.public_bytes(serialization.Encoding.OpenSSH,
                                  serialization.PublicFormat.OpenSSH).decode()
    return {
        "privateKeyPem": traditional,
        "privateKeyPemPkcs8": pkcs8,
        "publicKeyPem": public_pem,
        "publicKeyOpenssh": openssh + "\n",
        "publicKeyFingerprintSha256": "SHA256:" + base64.b64encode(
            hashlib.sha256(openssh.encode()).digest()).decode().rstrip("="),
    }


def _subject(inputs: dict) -> x509.Name:
    subject = inputs.get("subject") or {}
    if isinstance(subject, list):
        subject = subject[0] if subject else {}
    attributes = []
    if subject.get("commonName"):
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, subject["commonName"]))
    for org in ([subject["organization"]] if subject.get("organization") else []):
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attributes)


def _load_key(pem: str):
    return serialization.load_pem_private_key(pem.encode(), password=None)


def _sign(inputs: dict, subject: x509.Name, public_key, issuer: x509.Name, signing_key,
          is_ca: bool) -> State:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    hours = int(inputs.get("validityPeriodHours", 8760))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    dns_names = [x509.DNSName(n) for n in inputs.get("dnsNames") or []]
    if dns_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(dns_names), critical=False)
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(signing_key, algorithm)
    return {
        "certPem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "validityStartTime": now.isoformat(),
        "validityEndTime": (now + datetime.timedelta(hours=hours)).isoformat(),
        "readyForRenewal": False,
    }


def _self_signed_cert(name: str, inputs: dict) -> State:
    key = _load_key(inputs["privateKeyPem"])
    subject = _subject(inputs)
    is_ca = bool(inputs.get("isCaCertificate"))
    return _sign(inputs, subject, key.public_key(), subject, key, is_ca)


def _cert_request(name: str, inputs: dict) -> State:
    key = _load_key(inputs["privateKeyPem"])
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(inputs))
    csr = builder.sign(key, algorithm)
    return {"certRequestPem": csr.public_bytes(serialization.Encoding.PEM).decode()}


def _locally_signed_cert(name: str, inputs: dict) -> State:
    csr = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
    ca = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
    ca_key = _load_key(inputs["caPrivateKeyPem"])
    return _sign(inputs, csr.subject, csr.public_key(), ca.subject, ca_key,
                 bool(inputs.get("isCaCertificate")))


MOCK_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: bW9jay1jYQ==
contexts:
- name: {name}
  context: {{cluster: {name}, user: {name}-admin}}
current-context: {name}
users:
- name: {name}-admin
  user: {{token: mock-kind-admin-token}}
"""


def _command(name: str, inputs: dict) -> State:
    create = inputs.get("create") or ""
    stdout = ""
    if "get kubeconfig" in create:
        stdout = MOCK_KUBECONFIG.format(name=name)
    return {"stdout": stdout, "stderr": ""}


def _kubernetes(type_: str, name: str, inputs: dict) -> State:
    state = dict(inputs)
    if type_.endswith(":Service"):
        state["status"] = {"loadBalancer": {"ingress": [{"hostname": f"{name}.elb.example"}]}}
    return state


# Resource types whose computed outputs the program reads; everything else echoes its inputs.
RESOURCE_OUTPUTS: dict[str, NewResource] = {
    "random:index/randomPassword:RandomPassword": _password,
    "random:index/randomString:RandomString": _password,
    "random:index/randomBytes:RandomBytes": _random_bytes,
    "random:index/randomId:RandomId": _random_bytes,
    "tls:index/privateKey:PrivateKey": _private_key,
    "tls:index/selfSignedCert:SelfSignedCert": _self_signed_cert,
    "tls:index/certRequest:CertRequest": _cert_request,
    "tls:index/locallySignedCert:LocallySignedCert": _locally_signed_cert,
    "command:local:Command": _command,
}

# Fields of mocked outputs that the real providers mark secret; the render masks their values.
SECRET_OUTPUTS: dict[str, tuple[str, ...]] = {
    "random:index/randomPassword:RandomPassword": ("result", "bcryptHash"),
    "random:index/randomBytes:RandomBytes": ("base64", "hex"),
    "tls:index/privateKey:PrivateKey": ("privateKeyPem", "privateKeyPemPkcs8"),
}


def _aws(type_: str, name: str, inputs: dict) -> State:
    service = type_.split(":")[1].split("/")[0]
    state = dict(inputs)
    state.setdefault("name", inputs.get("name") or f"{name}-mock")
    state["arn"] = f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{name}"
    return state


def _zone_id(name: str) -> str:
    return "Z" + hashlib.sha256(name.encode()).hexdigest()[:20].upper()


def _aws_name(name: str, inputs: dict) -> str:
    return inputs.get("name") or f"{name}-mock"


# What AWS computes for the resources whose outputs the AWS stack reads back.
RESOURCE_OUTPUTS.update({
    "aws:lb/loadBalancer:LoadBalancer": lambda name, inputs: {
        "dnsName": f"{_aws_name(name, inputs)}-0123456789abcdef.elb.{REGION}.amazonaws.com",
        "zoneId": "Z26RNL4JYFTOTI",
    },
    "aws:route53/zone:Zone": lambda name, inputs: {
        "zoneId": _zone_id(name),
        "arn": f"arn:aws:route53:::hostedzone/{_zone_id(name)}",
        "nameServers": [],
    },
    "aws:route53/record:Record": lambda name, inputs: {"fqdn": inputs.get("name", name)},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, inputs: {
        "latestVersion": 1, "defaultVersion": 1},
    "aws:iam/role:Role": lambda name, inputs: {
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{_aws_name(name, inputs)}"},
    "aws:iam/instanceProfile:InstanceProfile": lambda name, inputs: {
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/{_aws_name(name, inputs)}"},
    "aws:cloudwatch/logGroup:LogGroup": lambda name, inputs: {
        "arn": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{_aws_name(name, inputs)}"},
    "aws:lambda/function:Function": lambda name, inputs: {
        "arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{_aws_name(name, inputs)}"},
})


# Invokes the program makes, answered the way the cloud would at a plausible moment.
INVOKES: dict[str, Callable[[dict], dict]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda args: {
        "names": [f"{REGION}a", f"{REGION}b", f"{REGION}c"],
        "zoneIds": ["use1-az1", "use1-az2", "use1-az4"],
    },
    "aws:index/getRegion:getRegion": lambda args: {"name": REGION, "region": REGION, "id": REGION},
    "aws:index/getCallerIdentity:getCallerIdentity": lambda args: {
        "accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:root", "userId": ACCOUNT_ID,
    },
    "aws:index/getPartition:getPartition": lambda args: {"partition": "aws", "dnsSuffix":
                                                         "amazonaws.com"},
    "aws:ec2/getAmi:getAmi": lambda args: {"id": "ami-0mockdebian000000", "imageId":
                                           "ami-0mockdebian000000", "architecture": "x86_64",
                                           "rootDeviceName": "/dev/xvda"},
    "aws:route53/getZone:getZone": lambda args: {
        "id": _zone_id(args.get("name", "")), "zoneId": _zone_id(args.get("name", "")),
        "name": args.get("name", ""), "privateZone": False},
}


# The wire form's secret wrapper (pulumi/sdk rpc.py): a secret input, such as a CA key handed to
# a certificate, reaches the mock as {SIG: SECRET, "value": ...}.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def _without_secret_wrappers(value):
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _without_secret_wrappers(value.get("value"))
        return {k: _without_secret_wrappers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secret_wrappers(v) for v in value]
    return value


class DemoMocks(pulumi.runtime.Mocks):
    """Mocks for the whole program; records every secret value it hands out and every provider
    function the program calls."""

    def __init__(self) -> None:
        self.secret_values: set[str] = set()
        # (token, arguments) in call order: the answers are canned, so what a lookup asked for
        # (an image's owner and filters, say) is the only thing a test can check about it.
        self.calls: list[tuple[str, dict]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = args.inputs
        if args.typ.startswith("kubernetes:"):
            state = _kubernetes(args.typ, args.name, inputs)
        elif args.typ.startswith("aws:"):
            state = _aws(args.typ, args.name, inputs)
        else:
            state = dict(inputs)
        compute = RESOURCE_OUTPUTS.get(args.typ)
        if compute is not None:
            state.update(compute(args.name, _without_secret_wrappers(inputs)))
        for key in SECRET_OUTPUTS.get(args.typ, ()):
            if isinstance(state.get(key), str):
                self.secret_values.add(state[key])
        resource_id = args.resource_id or f"{args.name}-id"
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append((args.token, dict(args.args)))
        answer = INVOKES.get(args.token)
        return answer(args.args) if answer else {}
