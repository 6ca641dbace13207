"""Reads a stack's configuration the way the Pulumi engine would: project defaults, then the
stack file. Encrypted values cannot be decrypted here; they become masked secrets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# What an encrypted (`secure:`) value reads as offline: it stays a secret and is masked on output.
ENCRYPTED_PLACEHOLDER = "encrypted-config-value"


class UnknownStackError(Exception):
    """The stack has no Pulumi.<stack>.yaml in the project."""


@dataclass(frozen=True)
class StackConfig:
    stack: str
    project: str
    values: dict[str, str]
    secret_keys: tuple[str, ...]


def available_stacks(project_dir: Path = PROJECT_ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def _as_config_string(value: object) -> str:
    # The engine hands structured values to the program as JSON and scalars as plain text.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def load(stack: str, project_dir: Path = PROJECT_ROOT) -> StackConfig:
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        known = ", ".join(available_stacks(project_dir)) or "none"
        raise UnknownStackError(
            f"no stack {stack!r}: {stack_file.name} does not exist (stacks: {known})."
        )
    name = project["name"]
    values: dict[str, str] = {}
    secret_keys: list[str] = []

    for key, spec in (project.get("config") or {}).items():
        full_key = key if ":" in key else f"{name}:{key}"
        if isinstance(spec, dict) and "default" in spec:
            values[full_key] = _as_config_string(spec["default"])
        elif isinstance(spec, dict) and "value" in spec:
            values[full_key] = _as_config_string(spec["value"])

    for key, value in ((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}).items():
        full_key = key if ":" in key else f"{name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full_key] = ENCRYPTED_PLACEHOLDER
            secret_keys.append(full_key)
        else:
            values[full_key] = _as_config_string(value)

    return StackConfig(stack=stack, project=name, values=values, secret_keys=tuple(secret_keys))
