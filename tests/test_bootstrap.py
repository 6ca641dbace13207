"""ClusterBootstrap under mocks: the PKI stays secret, what it derives is right, and the user-data
of each role carries exactly the files it should.

The component runs in a tiny program of its own (written to a temporary project), through the
same harness as the real program, so nothing here depends on a provider stack.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import textwrap

import pytest
import yaml
from conftest import require_tool
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

import cloud_init
from cncfdemo import harness
from components.bootstrap import CALICO, ClusterBootstrapArgs
from components.bootstrap.credentials import ADMIN_GROUP

CLUSTER = "demo"
PUBLIC_ENDPOINT = "https://demo-api-0123.elb.us-east-1.amazonaws.com:6443"
PUBLIC_HOST = "demo-api-0123.elb.us-east-1.amazonaws.com"
EXTRA_NAME = "api.demo.example.com"
IN_CLUSTER_ENDPOINT = "masters.demo.k8s:6443"

PROGRAM = textwrap.dedent('''
    """ClusterBootstrap alone, configured from cncfdemo:* keys, every output exported."""
    import pulumi

    from components.bootstrap import ClusterBootstrap, ClusterBootstrapArgs

    config = pulumi.Config("cncfdemo")
    bootstrap = ClusterBootstrap("demo", ClusterBootstrapArgs(
        cluster_name="demo",
        kubernetes_version=config.get("kubernetesVersion") or "1.35.3",
        master_count=config.get_int("masterCount") or 3,
        pod_cidr="172.20.0.0/16",
        service_cidr="10.96.0.0/12",
        public_api_endpoint=pulumi.Output.from_input("{endpoint}"),
        api_server_names=[pulumi.Output.from_input("{public_host}"), "{extra}"],
        node_image_prebuilt=config.get_bool("prebuilt") or False,
        cloud_provider_external=config.get_bool("cloudProviderExternal") or False,
        fqdn_node_names=config.get_bool("fqdnNodeNames") or False,
    ))
    pulumi.export("adminKubeconfig", bootstrap.admin_kubeconfig)
    pulumi.export("caCertPem", bootstrap.ca_cert_pem)
    pulumi.export("caCertHash", bootstrap.ca_cert_hash)
    pulumi.export("token", bootstrap.token)
    pulumi.export("certificateKey", bootstrap.certificate_key)
    pulumi.export("apiEndpoint", bootstrap.api_endpoint)
    pulumi.export("userDataMasters", bootstrap.user_data("masters"))
    pulumi.export("userDataMinions", bootstrap.user_data("minions"))
''').format(endpoint=PUBLIC_ENDPOINT, public_host=PUBLIC_HOST, extra=EXTRA_NAME)


@pytest.fixture(scope="session")
def bootstrap_run(tmp_path_factory):
    """`bootstrap_run(**config)`: the program above run under mocks (cached per config)."""
    project = tmp_path_factory.mktemp("bootstrap-program")
    (project / "Pulumi.yaml").write_text("name: cncfdemo\nruntime: python\n")
    (project / "Pulumi.bootstrap.yaml").write_text("config: {}\n")
    (project / "__main__.py").write_text(PROGRAM)
    cache: dict[tuple, harness.Run] = {}

    def run(**config: str) -> harness.Run:
        key = tuple(sorted(config.items()))
        if key not in cache:
            overrides = {f"cncfdemo:{k}": v for k, v in config.items()}
            cache[key] = harness.run_program("bootstrap", project_dir=project,
                                             overrides=overrides)
        return cache[key]

    return run


@pytest.fixture(scope="module")
def run(bootstrap_run):
    return bootstrap_run(cloudProviderExternal="true", fqdnNodeNames="true")


def user_data(run: harness.Run, role: str) -> dict:
    text = run.outputs["userDataMasters" if role == "masters" else "userDataMinions"]
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def files_of(document: dict) -> dict[str, dict]:
    return {f["path"]: f for f in document["write_files"]}


def load_cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


# secrets


def test_every_private_key_and_join_secret_is_secret_from_birth(run):
    assert {"adminKubeconfig", "token", "certificateKey", "userDataMasters",
            "userDataMinions"} <= run.secret_outputs
    assert {"caCertPem", "caCertHash", "apiEndpoint"}.isdisjoint(run.secret_outputs)
    for resource in run.resources:
        for name, value in resource.inputs.items():
            plain = harness.unwrap(value)
            if isinstance(plain, str) and "PRIVATE KEY" in plain:
                assert harness.is_secret(value), f"{resource.urn}: input {name} is a key in clear"
    for secret in (run.outputs["token"], run.outputs["certificateKey"]):
        assert secret in run.secret_values


def test_no_private_key_reaches_a_plain_output(run):
    for name, value in run.outputs.items():
        if name not in run.secret_outputs:
            assert "PRIVATE KEY" not in str(value), name


# what the component derives


def test_admin_kubeconfig_is_a_client_certificate_of_the_cluster_ca(run):
    config = yaml.safe_load(run.outputs["adminKubeconfig"])
    assert config["current-context"] == CLUSTER
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == PUBLIC_ENDPOINT
    ca_pem = base64.b64decode(cluster["cluster"]["certificate-authority-data"]).decode()
    assert ca_pem == run.outputs["caCertPem"]

    (user,) = config["users"]
    cert = load_cert(base64.b64decode(user["user"]["client-certificate-data"]).decode())
    key = serialization.load_pem_private_key(
        base64.b64decode(user["user"]["client-key-data"]), password=None)
    ca = load_cert(ca_pem)
    cert.verify_directly_issued_by(ca)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        ADMIN_GROUP]
    assert ADMIN_GROUP == "kubeadm:cluster-admins"


def test_cluster_ca_is_a_certificate_authority(run):
    ca = load_cert(run.outputs["caCertPem"])
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca


def test_ca_cert_hash_is_what_openssl_computes_for_the_ca(run, tmp_path):
    # The recipe kubeadm's documentation gives for --discovery-token-ca-cert-hash.
    openssl = require_tool("openssl")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(run.outputs["caCertPem"])
    public = subprocess.run([openssl, "x509", "-pubkey", "-noout", "-in", str(ca_file)],
                            capture_output=True, check=True).stdout
    der = subprocess.run([openssl, "pkey", "-pubin", "-outform", "der"], input=public,
                         capture_output=True, check=True).stdout
    assert run.outputs["caCertHash"] == "sha256:" + hashlib.sha256(der).hexdigest()


def test_token_and_certificate_key_have_kubeadm_formats(run):
    assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", run.outputs["token"])
    assert re.fullmatch(r"[0-9a-f]{64}", run.outputs["certificateKey"])
    (token_id,) = [r for r in run.of_type("random:index/randomString:RandomString")
                   if r.name.endswith("-token-id")]
    (token_secret,) = [r for r in run.of_type("random:index/randomPassword:RandomPassword")
                       if r.name.endswith("-token-secret")]
    assert (token_id.plain_inputs["length"], token_secret.plain_inputs["length"]) == (6.0, 16.0)
    for part in (token_id, token_secret):
        assert part.plain_inputs["upper"] is False and part.plain_inputs["special"] is False, \
            part.urn
    # the secret half is a secret from the moment the provider makes it
    assert run.outputs["token"].split(".")[1] in run.secret_values


def test_every_child_is_parented_and_named_from_the_component(run):
    (component,) = run.of_type("cncfdemo:bootstrap:ClusterBootstrap")
    children = [r for r in run.resources if r is not component]
    # three CAs (key, cert), the service-account key, two token parts, the certificate key,
    # the admin key, request and certificate
    assert len(children) == 13
    for child in children:
        assert child.parent == component.urn, child.urn
        assert child.name.startswith(f"{component.name}-"), child.urn


def test_in_cluster_endpoint_is_the_masters_name(run):
    assert run.outputs["apiEndpoint"] == IN_CLUSTER_ENDPOINT


# the user-data, snapshot-style

COMMON_FILES = [
    ("/etc/sysconfig/kubernetes-cluster", "0644"),
    ("/etc/cncfdemo/token", "0600"),
    ("/etc/cncfdemo/ca-cert-hash", "0644"),
]
MASTER_ONLY_FILES = [
    ("/etc/sysconfig/kubernetes-master", "0644"),
    ("/etc/cncfdemo/certificate-key", "0600"),
    ("/etc/cncfdemo/kubeadm-init.yaml", "0600"),
    ("/etc/kubernetes/pki/ca.crt", "0644"),
    ("/etc/kubernetes/pki/ca.key", "0600"),
    ("/etc/kubernetes/pki/front-proxy-ca.crt", "0644"),
    ("/etc/kubernetes/pki/front-proxy-ca.key", "0600"),
    ("/etc/kubernetes/pki/etcd/ca.crt", "0644"),
    ("/etc/kubernetes/pki/etcd/ca.key", "0600"),
    ("/etc/kubernetes/pki/sa.key", "0600"),
    ("/etc/kubernetes/pki/sa.pub", "0644"),
]
MINION_ONLY_FILES = [
    ("/etc/sysconfig/kubernetes-minion", "0644"),
    ("/etc/cncfdemo/ca.crt", "0644"),
]
SHARED_FILES = [
    ("/usr/local/lib/cncfdemo/common.sh", "0755"),
    ("/usr/local/lib/cncfdemo/install-kubernetes.sh", "0755"),
    ("/usr/local/lib/cncfdemo/kubeadm-master.sh", "0755"),
    ("/usr/local/lib/cncfdemo/kubeadm-minion.sh", "0755"),
    ("/etc/systemd/system/cncfdemo-install.service", "0644"),
    ("/etc/systemd/system/cncfdemo-install.service.d/10-cluster.conf", "0644"),
    ("/etc/systemd/system/kubeadm-master.service", "0644"),
    ("/etc/systemd/system/kubeadm-master.service.d/10-cluster.conf", "0644"),
    ("/etc/systemd/system/kubeadm-minion.service", "0644"),
    ("/etc/systemd/system/kubeadm-minion.service.d/10-cluster.conf", "0644"),
]
CLOUD_PROVIDER_FILES = [
    ("/etc/cncfdemo/kubelet-cloud-provider.env", "0644"),
    ("/etc/systemd/system/kubelet.service.d/20-cloud-provider-external.conf", "0644"),
]


@pytest.mark.parametrize("role, own", [("masters", MASTER_ONLY_FILES),
                                       ("minions", MINION_ONLY_FILES)])
def test_user_data_writes_exactly_these_files(run, role, own):
    written = {(f["path"], f["permissions"]) for f in user_data(run, role)["write_files"]}
    assert written == set(COMMON_FILES + own + SHARED_FILES + CLOUD_PROVIDER_FILES)
    assert all(f["owner"] == "root:root" for f in user_data(run, role)["write_files"])


def test_without_a_cloud_controller_the_kubelet_and_host_name_are_left_alone(bootstrap_run):
    run = bootstrap_run(cloudProviderExternal="false")
    document = user_data(run, "minions")
    assert not set(files_of(document)) & {path for path, _ in CLOUD_PROVIDER_FILES}
    assert "prefer_fqdn_over_hostname" not in document


def test_nodes_can_be_named_by_their_full_host_name(run):
    for role in cloud_init.ROLES:
        assert user_data(run, role)["prefer_fqdn_over_hostname"] is True


def test_cluster_settings_file(run):
    text = files_of(user_data(run, "masters"))["/etc/sysconfig/kubernetes-cluster"]["content"]
    settings = dict(line.split("=", 1) for line in text.splitlines()
                    if line and not line.startswith("#"))
    assert settings == {
        "CLUSTER_NAME": CLUSTER,
        "KUBERNETES_VERSION": "1.35.3",
        "KUBERNETES_MINOR": "v1.35",
        "API_ENDPOINT": IN_CLUSTER_ENDPOINT,
        "MASTER_COUNT": "3",
        "POD_CIDR": "172.20.0.0/16",
        "SERVICE_CIDR": "10.96.0.0/12",
        "CNI_NAME": "calico",
        "CNI_MANIFEST_URL": CALICO.manifest_url,
        "NODE_IMAGE_PREBUILT": "false",
    }
    assert files_of(user_data(run, "minions"))["/etc/sysconfig/kubernetes-cluster"][
        "content"] == text


def test_settings_follow_the_arguments(bootstrap_run):
    run = bootstrap_run(masterCount="5", kubernetesVersion="1.36.1", prebuilt="true")
    text = files_of(user_data(run, "masters"))["/etc/sysconfig/kubernetes-cluster"]["content"]
    assert {"MASTER_COUNT=5", "KUBERNETES_VERSION=1.36.1", "KUBERNETES_MINOR=v1.36",
            "NODE_IMAGE_PREBUILT=true"} <= set(text.splitlines())


def test_role_files_name_their_role(run):
    master = files_of(user_data(run, "masters"))["/etc/sysconfig/kubernetes-master"]["content"]
    minion = files_of(user_data(run, "minions"))["/etc/sysconfig/kubernetes-minion"]["content"]
    assert "NODE_ROLE=masters" in master.splitlines()
    assert "NODE_ROLE=minions" in minion.splitlines()


def test_join_secrets_on_nodes_are_the_programs(run):
    for role in cloud_init.ROLES:
        files = files_of(user_data(run, role))
        assert files["/etc/cncfdemo/token"]["content"] == run.outputs["token"] + "\n"
        assert files["/etc/cncfdemo/ca-cert-hash"]["content"] == run.outputs["caCertHash"] + "\n"
    masters = files_of(user_data(run, "masters"))
    assert masters["/etc/cncfdemo/certificate-key"]["content"] == (
        run.outputs["certificateKey"] + "\n")
    assert masters["/etc/kubernetes/pki/ca.crt"]["content"] == run.outputs["caCertPem"]
    minions = files_of(user_data(run, "minions"))
    assert minions["/etc/cncfdemo/ca.crt"]["content"] == run.outputs["caCertPem"]


def test_a_minion_gets_no_private_key_and_no_certificate_key(run):
    text = run.outputs["userDataMinions"]
    assert "PRIVATE KEY" not in text
    assert run.outputs["certificateKey"] not in text


def test_master_ca_keys_match_their_certificates(run):
    files = files_of(user_data(run, "masters"))
    for name in ("ca", "front-proxy-ca", "etcd/ca"):
        cert = load_cert(files[f"/etc/kubernetes/pki/{name}.crt"]["content"])
        key = serialization.load_pem_private_key(
            files[f"/etc/kubernetes/pki/{name}.key"]["content"].encode(), password=None)
        assert cert.public_key().public_numbers() == key.public_key().public_numbers(), name
    sa_key = serialization.load_pem_private_key(
        files["/etc/kubernetes/pki/sa.key"]["content"].encode(), password=None)
    sa_pub = serialization.load_pem_public_key(
        files["/etc/kubernetes/pki/sa.pub"]["content"].encode())
    assert sa_key.public_key().public_numbers() == sa_pub.public_numbers()


def test_kubeadm_init_configuration(run):
    text = files_of(user_data(run, "masters"))["/etc/cncfdemo/kubeadm-init.yaml"]["content"]
    init, cluster = yaml.safe_load_all(text)
    assert (init["apiVersion"], init["kind"]) == ("kubeadm.k8s.io/v1beta4", "InitConfiguration")
    assert init["bootstrapTokens"][0]["token"] == run.outputs["token"]
    assert init["certificateKey"] == run.outputs["certificateKey"]
    assert (cluster["apiVersion"], cluster["kind"]) == ("kubeadm.k8s.io/v1beta4",
                                                        "ClusterConfiguration")
    assert cluster["controlPlaneEndpoint"] == IN_CLUSTER_ENDPOINT
    assert cluster["kubernetesVersion"] == "v1.35.3"
    assert cluster["clusterName"] == CLUSTER
    assert cluster["networking"] == {"podSubnet": "172.20.0.0/16",
                                     "serviceSubnet": "10.96.0.0/12"}
    assert cluster["apiServer"]["certSANs"] == ["masters.demo.k8s", PUBLIC_HOST, EXTRA_NAME]


def test_runcmd_starts_both_role_units_and_lets_the_condition_decide(run):
    for role in cloud_init.ROLES:
        document = user_data(run, role)
        assert document["locale"] == "C.UTF-8"
        assert document["runcmd"] == [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "cncfdemo-install.service", "kubeadm-master.service",
             "kubeadm-minion.service"],
            ["systemctl", "start", "--no-block", "kubeadm-master.service",
             "kubeadm-minion.service"],
        ]


def test_units_and_scripts_are_copied_unchanged(run):
    files = files_of(user_data(run, "minions"))
    for name in cloud_init.SCRIPTS:
        assert files[f"/usr/local/lib/cncfdemo/{name}"]["content"] == (
            cloud_init.SCRIPTS_DIR / name).read_text()
    for unit in cloud_init.UNITS:
        assert files[f"/etc/systemd/system/{unit}"]["content"] == (
            cloud_init.UNITS_DIR / unit).read_text()


def test_role_units_wait_for_the_install_and_check_their_role_file():
    for unit, role_file in (("kubeadm-master.service", "/etc/sysconfig/kubernetes-master"),
                            ("kubeadm-minion.service", "/etc/sysconfig/kubernetes-minion")):
        text = (cloud_init.UNITS_DIR / unit).read_text()
        assert f"ConditionPathExists={role_file}\n" in text
        assert re.search(r"^Wants=.*\bcncfdemo-install\.service\b", text, re.M)
        assert re.search(r"^After=.*\bcncfdemo-install\.service\b", text, re.M)
    install = (cloud_init.UNITS_DIR / "cncfdemo-install.service").read_text()
    assert "ConditionPathExists=!/etc/cncfdemo/image-prebuilt\n" in install


# arguments and parameters


def test_args_name_the_bad_field():
    good = dict(cluster_name="demo", kubernetes_version="1.35.3", master_count=1,
                pod_cidr="192.168.0.0/16", service_cidr="10.96.0.0/12",
                public_api_endpoint="https://x:6443")
    ClusterBootstrapArgs(**good)
    for field, value in (("cluster_name", "Demo_1"), ("kubernetes_version", "1.35"),
                         ("master_count", 0), ("pod_cidr", "192.168.0.0/33")):
        with pytest.raises(ValueError, match=field):
            ClusterBootstrapArgs(**{**good, field: value})


def test_user_data_params_refuse_a_malformed_token_and_endpoint(run):
    files = files_of(user_data(run, "masters"))
    pem = files["/etc/kubernetes/pki/ca.crt"]["content"]
    key = files["/etc/kubernetes/pki/ca.key"]["content"]
    params = dict(
        cluster_name="demo", kubernetes_version="1.35.3", master_count=1,
        pod_cidr="192.168.0.0/16", service_cidr="10.96.0.0/12",
        public_api_endpoint=PUBLIC_ENDPOINT, cni_name="calico",
        cni_manifest_url=CALICO.manifest_url, token=run.outputs["token"],
        ca_cert_hash=run.outputs["caCertHash"], ca_cert_pem=pem,
        certificate_key=run.outputs["certificateKey"], ca_key_pem=key,
        front_proxy_ca_cert_pem=pem, front_proxy_ca_key_pem=key, etcd_ca_cert_pem=pem,
        etcd_ca_key_pem=key, service_account_key_pem=key, service_account_public_pem=pem)
    cloud_init.UserDataParams(**params)
    for field, value in (("token", "ABCDEF.0123456789abcdef"),
                         ("public_api_endpoint", "masters.demo.k8s:6443"),
                         ("ca_cert_hash", "sha1:abc")):
        with pytest.raises(ValueError, match=field):
            cloud_init.UserDataParams(**{**params, field: value})
    with pytest.raises(ValueError, match="role"):
        cloud_init.render_user_data("workers", cloud_init.UserDataParams(**params))  # type: ignore[arg-type]
