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


class StackConfigError(Exception):
    """The project or stack file cannot be used as the Pulumi CLI would use it."""


class UnknownStackError(StackConfigError):
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


def _read_yaml(path: Path) -> dict:
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise StackConfigError(f"{path.name} is not valid YAML{line}: "
                               f"{getattr(err, 'problem', None) or err}.") from err
    if document is not None and not isinstance(document, dict):
        kind = type(document).__name__
        raise StackConfigError(f"{path.name} must be a YAML mapping, not a {kind}.")
    return document or {}


def load(stack: str, project_dir: Path = PROJECT_ROOT) -> StackConfig:
    project = _read_yaml(project_dir / "Pulumi.yaml")
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        known = ", ".join(available_stacks(project_dir)) or "none"
        raise UnknownStackError(
            f"no stack {stack!r}: {stack_file.name} does not exist (stacks: {known})."
        )
    name = project["name"]
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    # A declared key with neither default nor value must come from the stack file: the CLI
    # stops before the program runs otherwise, so the offline run does too.
    required: list[str] = []

    for key, spec in (project.get("config") or {}).items():
        full_key = key if ":" in key else f"{name}:{key}"
        if isinstance(spec, dict) and "default" in spec:
            values[full_key] = _as_config_string(spec["default"])
        elif isinstance(spec, dict) and "value" in spec:
            values[full_key] = _as_config_string(spec["value"])
        else:
            required.append(full_key)

    stack_config = _read_yaml(stack_file).get("config") or {}
    if not isinstance(stack_config, dict):
        raise StackConfigError(f"{stack_file.name}: `config` must be a mapping of keys to values.")
    for key, value in stack_config.items():
        full_key = key if ":" in key else f"{name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full_key] = ENCRYPTED_PLACEHOLDER
            secret_keys.append(full_key)
        else:
            values[full_key] = _as_config_string(value)

    missing = [key for key in required if key not in values]
    if missing:
        listed = ", ".join(missing)
        raise StackConfigError(
            f"stack {stack!r} is missing configuration values the project requires: {listed}. "
            f"Set each with `pulumi config set --stack {stack} <key> <value>` "
            "(Pulumi.yaml describes them)."
        )
    return StackConfig(stack=stack, project=name, values=values, secret_keys=tuple(secret_keys))
