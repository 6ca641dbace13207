"""Runs the Pulumi program in-process under mocks and records everything it registers.

This is the one implementation behind `cncfdemo render`, `cncfdemo cost` and the tests.
"""

from __future__ import annotations

import logging
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from cncfdemo import stackconfig
from cncfdemo.mocks import DemoMocks

# Markers of the wire format (pulumi/sdk rpc.py): a secret wrapper, an unknown value, a reference.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


class ProgramError(Exception):
    """The program stopped before completing: a config error or a resource error."""

    def __init__(self, message: str, registered: list[Resource]) -> None:
        super().__init__(message)
        # What the program had registered before it stopped (the stack itself excluded).
        self.registered = registered


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    dependencies: list[str]
    provider: str
    inputs: dict[str, Any]  # wire form, secrets still wrapped
    # The resource options the engine acts on at update and destroy time (only those set).
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def plain_inputs(self) -> dict[str, Any]:
        """Inputs with secret wrappers removed: only for code that masks what it writes."""
        return unwrap(self.inputs)


@dataclass
class Run:
    stack: str
    resources: list[Resource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    secret_values: set[str]
    warnings: list[str] = field(default_factory=list)
    # Provider functions the program called, as (token, arguments), in call order.
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Resource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def kubernetes_objects(self) -> list[Resource]:
        return [r for r in self.resources
                if r.type.startswith("kubernetes:") and r.custom
                and not r.type.startswith("kubernetes:helm")
                and r.type != "pulumi:providers:kubernetes"]


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def unwrap(value: Any) -> Any:
    if is_secret(value):
        return unwrap(value.get("value"))
    if isinstance(value, dict):
        if value.get(SIG_KEY) == RESOURCE_SIG:
            return value.get("urn")
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def secret_leaves(value: Any, inside: bool = False) -> set[str]:
    """Every string the wire form marks secret (or that sits inside a secret)."""
    found: set[str] = set()
    if is_secret(value):
        return secret_leaves(value.get("value"), True)
    if isinstance(value, dict):
        for item in value.values():
            found |= secret_leaves(item, inside)
    elif isinstance(value, list):
        for item in value:
            found |= secret_leaves(item, inside)
    elif inside and isinstance(value, str):
        found.add(value)
    return found


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps the raw registration of every resource, stack included."""

    def __init__(self, mocks: DemoMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Resource] = []

    def RegisterResource(self, request):  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        self.recorded.append(Resource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            dependencies=sorted(request.dependencies),
            provider=request.provider,
            inputs=json_format.MessageToDict(request.object),
            options=_options(request),
        ))
        return response


def _options(request) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for flag in ("deleteBeforeReplace", "protect", "retainOnDelete"):
        if getattr(request, flag):
            options[flag] = True
    for name in ("additionalSecretOutputs", "ignoreChanges", "replaceOnChanges"):
        if getattr(request, name):
            options[name] = sorted(getattr(request, name))
    if request.deletedWith:
        options["deletedWith"] = request.deletedWith
    return options


class _CollectWarnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _resolve(value: Any) -> tuple[Any, bool]:
    output = pulumi.Output.from_input(value)
    return _sync_await(output.future()), bool(_sync_await(output.is_secret()))


def run_program(
    stack: str,
    project_dir: Path = stackconfig.PROJECT_ROOT,
    overrides: dict[str, Any] | None = None,
    secret_overrides: frozenset[str] = frozenset(),
) -> Run:
    """Run `__main__.py` for `stack` under mocks; `overrides` replaces config keys (`ns:key`),
    and those named in `secret_overrides` arrive as if set with `pulumi config set --secret`."""
    config = stackconfig.load(stack, project_dir)
    values = dict(config.values)
    secret_keys = set(config.secret_keys)
    for key, value in (overrides or {}).items():
        if value is None:
            values.pop(key, None)
            secret_keys.discard(key)
            continue
        values[key] = value if isinstance(value, str) else stackconfig._as_config_string(value)
        if key in secret_overrides:
            secret_keys.add(key)
        else:
            secret_keys.discard(key)

    mocks = DemoMocks()
    monitor = RecordingMonitor(mocks)
    warnings = _CollectWarnings()
    logger = logging.getLogger(f"cncfdemo.render.{stack}")
    logger.propagate = False
    logger.handlers = [warnings]

    # A fresh root stack each run: several programs may run in one process (the tests do).
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_all_config(values, sorted(secret_keys))
    pulumi.runtime.set_mocks(mocks, project=config.project, stack=stack, preview=False,
                             logger=logger, monitor=monitor)
    root = runtime_settings.get_root_resource()

    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    main = str(project_dir / "__main__.py")
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(main, run_name="__main__")))
    except pulumi.RunError as err:
        registered = [r for r in monitor.recorded if r.type != "pulumi:pulumi:Stack"]
        raise ProgramError(str(err), registered) from err
    finally:
        runtime_settings.SETTINGS.rpc_manager.clear()
        runtime_settings.SETTINGS.outputs.clear()

    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    for name, value in getattr(root, "outputs", {}).items():
        outputs[name], secret = _resolve(value)
        if secret:
            secret_outputs.add(name)

    secrets = set(mocks.secret_values)
    secrets |= {values[k] for k in secret_keys if k in values}
    for resource in monitor.recorded:
        secrets |= secret_leaves(resource.inputs)
    for name in secret_outputs:
        # a secret output is plain by now: every string in it is secret
        secrets |= secret_leaves(outputs[name], inside=True)

    return Run(
        stack=stack,
        resources=[r for r in monitor.recorded if r.type != "pulumi:pulumi:Stack"],
        outputs=outputs,
        secret_outputs=secret_outputs,
        secret_values={s for s in secrets if s},
        warnings=warnings.messages,
        calls=list(mocks.calls),
    )

