"""Shared fixtures: the program run offline for a stack, and its render on disk."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cncfdemo import harness, render
from cncfdemo.stackconfig import PROJECT_ROOT
from stacks.settings import ALL_KEYS

# The keys `pulumi config set --secret` is for; tests set them the same way.
SECRET_CONFIG_KEYS = frozenset(f"cncfdemo:{k.name}" for k in ALL_KEYS.values() if k.secret)

STACKS_THAT_RENDER = ("local-demo", "aws-demo")

# An account key of BOINC's shape (no real account's): with it set, the program deploys BOINC,
# which the stacks' own config leaves out.
BOINC_TEST_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

# An image pinned as DESIGN.md asks: an exact version tag (major.minor.patch, with a suffix
# such as -alpine allowed) or a sha256 digest. `8`, `8.0`, `latest` and `base-ubuntu` move.
PINNED_IMAGE = re.compile(
    r"^[a-z0-9][a-z0-9._/-]*(?::[A-Za-z0-9_][A-Za-z0-9._-]*)?@sha256:[0-9a-f]{64}$"
    r"|^[a-z0-9][a-z0-9._/-]*:v?\d+\.\d+\.\d+(?:-[A-Za-z0-9.]+)?$")


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def program_run():
    """`program_run(stack, **overrides)`: the program run under mocks (cached per arguments).

    Overrides are config keys without the namespace (`masterCount=3`); `None` unsets a key.
    Keys the settings declare secret (boincAccountKey) arrive encrypted, as a user sets them.
    """
    cache: dict[tuple, harness.Run] = {}

    def run(stack: str, **overrides) -> harness.Run:
        key = (stack, tuple(sorted(overrides.items())))
        if key not in cache:
            full = {(k if ":" in k else f"cncfdemo:{k}"): v for k, v in overrides.items()}
            cache[key] = harness.run_program(stack, overrides=full,
                                             secret_overrides=SECRET_CONFIG_KEYS)
        return cache[key]

    return run


@pytest.fixture(scope="session")
def rendered(program_run, tmp_path_factory):
    """`rendered(stack)`: the folder `cncfdemo render` writes for that stack (cached)."""
    cache: dict[str, Path] = {}

    def write(stack: str) -> Path:
        if stack not in cache:
            cache[stack] = render.write(program_run(stack), tmp_path_factory.mktemp(stack))
        return cache[stack]

    return write


@pytest.fixture(scope="session")
def rendered_with(program_run, tmp_path_factory):
    """`rendered_with(stack, **overrides)`: the render of `program_run(stack, **overrides)`,
    e.g. with `boincAccountKey=BOINC_TEST_KEY` so that BOINC is in it (cached)."""
    cache: dict[tuple, Path] = {}

    def write(stack: str, **overrides) -> Path:
        key = (stack, tuple(sorted(overrides.items())))
        if key not in cache:
            cache[key] = render.write(program_run(stack, **overrides),
                                      tmp_path_factory.mktemp(stack))
        return cache[key]

    return write


def require_tool(name: str) -> str:
    """The path of a real tool the test needs; `make test` installs them all."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; `make test` installs it (see Makefile)")
    return path
