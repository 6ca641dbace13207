"""BOINC under mocks: absent with a warning without a key; with one, background and secret."""

from __future__ import annotations

import json

import pytest

from cncfdemo import render
from cncfdemo.harness import is_secret
from cncfdemo.render import kubernetes_object
from components.workloads.boinc import BoincArgs
from components.workloads.platform import BACKGROUND_PRIORITY
from stacks.settings import ALL_KEYS

ACCOUNT_KEY = "4f1e2d3c4b5a69788796a5b4c3d2e1f0"
DEFAULT_IMAGE = ALL_KEYS["boincImage"].default
PINNED_IMAGE = "boinc/client@sha256:" + "3b" * 32
PIN_COMMAND = "pulumi config set cncfdemo:boincImage boinc/client@sha256:<digest>"


def background(run) -> dict[str, dict]:
    found = {}
    for resource in run.kubernetes_objects():
        obj = kubernetes_object(resource)
        if obj["metadata"].get("namespace") == "background":
            found[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return found


def test_without_a_key_boinc_is_not_deployed_and_a_warning_says_why(program_run):
    run = program_run("local-demo")
    assert background(run) == {}
    assert not run.of_type("cncfdemo:workloads:Boinc")
    (warning,) = [w for w in run.warnings if "BOINC" in w]
    assert "cncfdemo:boincAccountKey is not set" in warning
    assert "pulumi config set --secret cncfdemo:boincAccountKey" in warning


def test_with_a_key_one_client_runs_in_the_background_class(program_run):
    run = program_run("local-demo", boincAccountKey=ACCOUNT_KEY)
    found = background(run)
    assert set(found) == {"Deployment/boinc", "Secret/boinc-account", "NetworkPolicy/boinc-ingress"}
    deployment = found["Deployment/boinc"]
    spec = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 1
    assert spec["priorityClassName"] == BACKGROUND_PRIORITY
    (container,) = spec["containers"]
    assert container["image"] == DEFAULT_IMAGE == "boinc/client:base-ubuntu"
    requests = container["resources"]["requests"]
    assert requests == {"cpu": "50m", "memory": "256Mi"}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["boinccmd", "--get_cc_status"], probe
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/var/lib/boinc", "/tmp"}


def test_a_moving_tag_is_pulled_always_and_warned_about(program_run):
    run = program_run("local-demo", boincAccountKey=ACCOUNT_KEY)
    (warning,) = [w for w in run.warnings if "BOINC" in w]
    assert f"BOINC runs {DEFAULT_IMAGE}, a moving tag" in warning
    assert f"`{PIN_COMMAND}`" in warning
    (container,) = background(run)["Deployment/boinc"]["spec"]["template"]["spec"]["containers"]
    assert container["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("image", [PINNED_IMAGE, "boinc/client:base-ubuntu@sha256:" + "0a" * 32])
def test_the_configured_image_runs_and_a_digest_needs_no_warning(program_run, image):
    run = program_run("local-demo", boincAccountKey=ACCOUNT_KEY, boincImage=image)
    assert not [w for w in run.warnings if "BOINC" in w]
    (container,) = background(run)["Deployment/boinc"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image
    assert container["imagePullPolicy"] == "IfNotPresent"


def test_a_custom_tag_is_warned_about_too(program_run):
    image = "registry.example.org/boinc/client:base-ubuntu-20260101"
    run = program_run("local-demo", boincAccountKey=ACCOUNT_KEY, boincImage=image)
    (warning,) = [w for w in run.warnings if "BOINC" in w]
    assert f"BOINC runs {image}, a moving tag" in warning and PIN_COMMAND in warning
    (container,) = background(run)["Deployment/boinc"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image


def test_nothing_connects_in_and_the_client_reaches_out(program_run):
    found = background(program_run("local-demo", boincAccountKey=ACCOUNT_KEY))
    policy = found["NetworkPolicy/boinc-ingress"]["spec"]
    # the client must reach its project's servers, wherever they are: egress is not limited
    assert policy["policyTypes"] == ["Ingress"] and policy["ingress"] == []
    pod_labels = found["Deployment/boinc"]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()


def test_the_account_key_reaches_boinc_only_through_a_secret(program_run):
    run = program_run("local-demo", boincAccountKey=ACCOUNT_KEY)
    found = background(run)
    env = {e["name"]: e for e in found["Deployment/boinc"]["spec"]["template"]["spec"][
        "containers"][0]["env"]}
    assert env["BOINC_CMD_LINE_OPTIONS"]["valueFrom"]["secretKeyRef"] == {
        "name": "boinc-account", "key": "cmd-line-options"}
    assert env["BOINC_GUI_RPC_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "boinc-account"
    assert ACCOUNT_KEY not in json.dumps(found["Deployment/boinc"])

    (secret,) = [r for r in run.of_type("kubernetes:core/v1:Secret")
                 if r.plain_inputs["metadata"]["name"] == "boinc-account"]
    data = secret.inputs["stringData"]
    assert is_secret(data) or is_secret(data["cmd-line-options"])
    options = secret.plain_inputs["stringData"]["cmd-line-options"]
    assert options == f"--attach_project https://www.worldcommunitygrid.org/ {ACCOUNT_KEY}"
    assert options in run.secret_values


def test_the_project_url_follows_settings(program_run):
    url = "https://boinc.bakerlab.org/rosetta/"
    run = program_run("local-demo", boincAccountKey=ACCOUNT_KEY, boincProjectUrl=url)
    (secret,) = [r for r in run.of_type("kubernetes:core/v1:Secret")
                 if r.plain_inputs["metadata"]["name"] == "boinc-account"]
    assert secret.plain_inputs["stringData"]["cmd-line-options"] == \
        f"--attach_project {url} {ACCOUNT_KEY}"


def test_the_key_never_reaches_the_render(program_run, tmp_path):
    out = render.write(program_run("local-demo", boincAccountKey=ACCOUNT_KEY), tmp_path / "r")
    for path in out.rglob("*"):
        if path.is_file():
            assert ACCOUNT_KEY not in path.read_text(), path


def test_a_project_url_must_be_http():
    with pytest.raises(ValueError, match="project_url"):
        BoincArgs(namespace="background", project_url="ftp://example.org", account_key="k",
                  image=PINNED_IMAGE)
