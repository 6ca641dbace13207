"""A stack imports only its own provider's SDK: an AWS user never loads Azure or GCP."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import STACKS_THAT_RENDER

PROVIDER_SDKS = {
    "aws": "pulumi_aws",
    "azure": "pulumi_azure_native",
    "gcp": "pulumi_gcp",
    "equinix": "pulumi_equinix_metal",
}

PROBE = """
import sys
from cncfdemo import harness
harness.run_program(sys.argv[1])
print(" ".join(sorted(name for name in sys.modules if name.startswith("pulumi_"))))
"""


@pytest.mark.parametrize("stack", STACKS_THAT_RENDER)
def test_stack_loads_only_its_provider_sdk(stack, project_root):
    result = subprocess.run([sys.executable, "-c", PROBE, stack], capture_output=True, text=True,
                            cwd=project_root, timeout=300)
    assert result.returncode == 0, result.stderr
    loaded = {name.split(".")[0] for name in result.stdout.split()}
    provider = stack.removesuffix("-demo")
    foreign = {sdk for name, sdk in PROVIDER_SDKS.items() if name != provider} & loaded
    assert foreign == set()
    if provider in PROVIDER_SDKS:
        assert PROVIDER_SDKS[provider] in loaded
