"""Every rendered manifest is valid for the stack's Kubernetes version, in strict mode."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml
from conftest import BOINC_TEST_KEY, STACKS_THAT_RENDER

# Each stack as configured, and local-demo with a BOINC account key: BOINC is only deployed
# with one, and no stack's config sets it.
RENDERS = [pytest.param(stack, {}, id=stack) for stack in STACKS_THAT_RENDER] + [
    pytest.param("local-demo", {"boincAccountKey": BOINC_TEST_KEY}, id="local-demo-boinc")]


@pytest.mark.parametrize(("stack", "overrides"), RENDERS)
def test_manifests_are_strictly_valid(rendered_with, stack, overrides):
    folder = rendered_with(stack, **overrides)
    outputs = json.loads((folder / "outputs.json").read_text())
    # kubernetes-validate ships one schema per minor release, named x.y.0
    version = ".".join(outputs["kubernetesVersion"].split(".")[:2]) + ".0"
    manifests = sorted((folder / "manifests").glob("*.yaml"))
    assert manifests, f"{stack} rendered no manifests"

    failures = []
    custom_resources = []
    for path in manifests:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert len(documents) == 1, f"{path.name} holds {len(documents)} objects"
        try:
            kubernetes_validate.validate(documents[0], version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            # kubernetes-validate only warns on kinds it has no schema for (custom resources);
            # list them so a typo in a built-in kind cannot pass as a custom resource.
            custom_resources.append(f"{documents[0]['apiVersion']}/{documents[0]['kind']}")
        except kubernetes_validate.ValidationError as err:
            failures.append(f"{path.name}: {err.message} at {list(err.path)}")
    assert failures == []
    assert all("." in api.split("/")[0] for api in custom_resources), custom_resources
    if "boincAccountKey" in overrides:
        assert (folder / "manifests" / "background.deployment.boinc.yaml") in manifests


def test_one_object_per_file_named_after_it(rendered):
    for path in (rendered("local-demo") / "manifests").glob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        namespace = obj["metadata"].get("namespace", "cluster")
        assert path.name == f"{namespace}.{obj['kind']}.{obj['metadata']['name']}.yaml".lower()
