"""Every workload image is pinned: an exact version tag or a digest. BOINC, whose official image
publishes moving tags only, is the one exception, and only with the warning that says so."""

from __future__ import annotations

import pytest
import yaml
from conftest import BOINC_TEST_KEY, PINNED_IMAGE, STACKS_THAT_RENDER

from cncfdemo.render import kubernetes_object
from cncfdemo.stackconfig import PROJECT_ROOT
from stacks.settings import ALL_KEYS

DEFAULT_BOINC_IMAGE = ALL_KEYS["boincImage"].default
DIGEST = "@sha256:" + "5e" * 32


def pod_spec(obj: dict) -> dict | None:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    template = (obj.get("spec") or {}).get("template")
    return template["spec"] if template else None


def images(run) -> dict[str, str]:
    """Every container's image, init containers included, by namespace/Kind/name/container."""
    found = {}
    for resource in run.kubernetes_objects():
        obj = kubernetes_object(resource)
        spec = pod_spec(obj)
        if spec is None:
            continue
        where = f"{obj['metadata'].get('namespace')}/{obj['kind']}/{obj['metadata']['name']}"
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            found[f"{where}/{container['name']}"] = container["image"]
    return found


def boinc_warnings(run) -> list[str]:
    return [w for w in run.warnings if w.startswith("BOINC runs ")]


@pytest.mark.parametrize(("image", "pinned"), [
    ("mongo:8.0.20", True),
    ("prom/prometheus:v3.5.0", True),
    ("nginx:1.30.4-alpine", True),
    ("openeuler/wrk:4.2.0-oe2403sp1", True),
    ("registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0", True),
    ("boinc/client" + DIGEST, True),
    ("boinc/client:base-ubuntu" + DIGEST, True),
    ("mongo:8", False),
    ("mongo:8.0", False),
    ("mongo:latest", False),
    ("mongo", False),
    ("boinc/client:base-ubuntu", False),
    ("boinc/client@sha256:abc", False),
])
def test_the_pin_rule(image, pinned):
    assert bool(PINNED_IMAGE.match(image)) is pinned


@pytest.mark.parametrize("stack", STACKS_THAT_RENDER)
def test_every_image_is_pinned_but_boinc_on_its_moving_tag(program_run, stack):
    run = program_run(stack, boincAccountKey=BOINC_TEST_KEY)
    found = images(run)
    assert len(found) > 10
    moving = {where: image for where, image in found.items() if not PINNED_IMAGE.match(image)}
    assert moving == {"background/Deployment/boinc/boinc": DEFAULT_BOINC_IMAGE}
    (warning,) = boinc_warnings(run)
    assert warning.startswith(f"BOINC runs {DEFAULT_BOINC_IMAGE}, a moving tag")


def test_with_a_digest_configured_every_image_is_pinned(program_run):
    image = "boinc/client" + DIGEST
    run = program_run("local-demo", boincAccountKey=BOINC_TEST_KEY, boincImage=image)
    found = images(run)
    assert found["background/Deployment/boinc/boinc"] == image
    assert {where: i for where, i in found.items() if not PINNED_IMAGE.match(i)} == {}
    assert boinc_warnings(run) == []


def test_the_digest_skip_names_the_images_that_are_not_pinned(program_run):
    """checkov-skips.yaml accepts CKV_K8S_43 (no digest) on the grounds that tags are exact; an
    image on a moving tag must be named there, or the reason claims what is untrue."""
    checks = yaml.safe_load((PROJECT_ROOT / "checkov-skips.yaml").read_text())["checks"]
    (entry,) = [check for check in checks if check["id"] == "CKV_K8S_43"]
    reason = " ".join(entry["reason"].split())
    run = program_run("local-demo", boincAccountKey=BOINC_TEST_KEY)
    for image in images(run).values():
        if not PINNED_IMAGE.match(image):
            assert image in reason, f"{image} moves, and the CKV_K8S_43 reason does not say so"
