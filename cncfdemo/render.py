"""Writes what a deployment would submit, from a recorded run, with every secret masked.

    graph.json    every resource: urn, type, name, parent, dependencies, inputs
    outputs.json  the stack outputs
    manifests/    one Kubernetes object per file, as it would be applied
    cloud-init/   the user-data of each node group
    files/        other generated artifacts: every ConfigMap key, as a file
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from cncfdemo.harness import RESOURCE_SIG, SIG_KEY, UNKNOWN, Resource, Run, is_secret, unwrap
from cncfdemo.masking import MIN_SECRET_LENGTH, Masker, marker

# Where each provider's node group resource carries user-data, and how it is encoded.
USER_DATA_FIELDS: dict[str, tuple[str, str]] = {
    "aws:ec2/launchTemplate:LaunchTemplate": ("userData", "base64"),
    "gcp:compute/instanceTemplate:InstanceTemplate": ("metadataStartupScript", "plain"),
    "azure-native:compute:VirtualMachineScaleSet": ("virtualMachineProfile.osProfile.customData",
                                                    "base64"),
    "equinix-metal:index/device:Device": ("userData", "plain"),
}

COMPUTED = "<computed>"


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks, so scripts and configs stay readable."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def to_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_BlockDumper, sort_keys=False, width=100)


def _masked_wire(value: Any) -> Any:
    """Inputs for graph.json: secrets replaced by markers, unknowns and references readable."""
    if is_secret(value):
        return _mask_all(unwrap(value.get("value")))
    if isinstance(value, dict):
        if value.get(SIG_KEY) == RESOURCE_SIG:
            return value.get("urn")
        return {k: _masked_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked_wire(v) for v in value]
    if value == UNKNOWN:
        return COMPUTED
    return value


def _mask_all(value: Any) -> Any:
    if isinstance(value, str):
        return marker(value)
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    return value


def _plain(value: Any, mask_short: bool = False, inside: bool = False) -> Any:
    """The wire form as a plain object: secrets unwrapped, references as URNs, unknowns named.

    With `mask_short`, secret strings too short for the text masker (it would hit innocent text)
    are replaced where they stand; longer ones keep their context for the text masker."""
    if is_secret(value):
        return _plain(value.get("value"), mask_short, True)
    if isinstance(value, dict):
        if value.get(SIG_KEY) == RESOURCE_SIG:
            return value.get("urn")
        return {k: _plain(v, mask_short, inside) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, mask_short, inside) for v in value]
    if value == UNKNOWN:
        return COMPUTED
    if isinstance(value, float) and value.is_integer():
        # The wire form carries every number as a float; Kubernetes wants integers back.
        return int(value)
    if mask_short and inside and isinstance(value, str) and value and (
            len(value) < MIN_SECRET_LENGTH):
        return marker(value)
    return value


def kubernetes_object(resource: Resource) -> dict[str, Any]:
    """The object as it would be applied (secrets in clear: for checks, not for writing)."""
    return _plain(resource.inputs)


def masked_object(resource: Resource) -> dict[str, Any]:
    """The object with its short secrets masked; the text masker takes the rest on write."""
    return _plain(resource.inputs, mask_short=True)


def manifest_filename(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace") or "cluster"
    return f"{namespace}.{obj['kind']}.{metadata.get('name', 'unnamed')}.yaml".lower()


def _field(inputs: dict[str, Any], dotted: str) -> Any:
    value: Any = inputs
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _decoded(raw: str) -> str:
    """Base64 user-data as the machine reads it: cloud-init unpacks gzipped user-data itself."""
    data = base64.b64decode(raw)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode()


def user_data(run: Run) -> dict[str, str]:
    """The decoded user-data of every node group resource, by resource name (secrets in clear)."""
    found = {}
    for resource in run.resources:
        spec = USER_DATA_FIELDS.get(resource.type)
        if spec is None:
            continue
        raw = _field(resource.plain_inputs, spec[0])
        if not isinstance(raw, str):
            continue
        found[resource.name] = _decoded(raw) if spec[1] == "base64" else raw
    return found


def config_files(run: Run) -> dict[str, str]:
    """Every ConfigMap key as `namespace/configmap/key`."""
    files = {}
    for resource in run.of_type("kubernetes:core/v1:ConfigMap"):
        obj = masked_object(resource)
        metadata = obj.get("metadata") or {}
        for key, value in (obj.get("data") or {}).items():
            path = f"{metadata.get('namespace', 'cluster')}/{metadata['name']}/{key}"
            files[path] = value
    return files


# What a render writes; a folder holding only these is an earlier render and may be replaced.
RENDER_ENTRIES = {"graph.json", "outputs.json", "manifests", "cloud-init", "files"}


class RenderError(Exception):
    """The render cannot be written where it was asked to go."""


def _clear(out: Path) -> None:
    if out.is_file() or out.is_symlink():
        raise RenderError(f"{out} is a file, not a folder: choose another --out.")
    if not out.exists():
        return
    foreign = sorted(p.name for p in out.iterdir() if p.name not in RENDER_ENTRIES)
    if foreign:
        raise RenderError(
            f"{out} holds files that `cncfdemo render` did not write ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}): nothing was replaced. Choose a new or "
            "empty folder for --out, or an earlier render's.")
    shutil.rmtree(out)


def write(run: Run, out: Path) -> Path:
    """Write the render of `run` into `out`, replacing an earlier render there.

    A folder holding anything a render does not write is refused, never emptied."""
    mask = Masker(run.secret_values)
    out = out.resolve()
    _clear(out)
    (out / "manifests").mkdir(parents=True)
    (out / "cloud-init").mkdir()
    (out / "files").mkdir()

    def save(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(mask(text))

    graph = [
        {
            "urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent,
            "custom": r.custom, "provider": r.provider, "dependencies": r.dependencies,
            "inputs": _masked_wire(r.inputs), "options": r.options,
        }
        for r in run.resources
    ]
    save(out / "graph.json", json.dumps(graph, indent=2, sort_keys=True) + "\n")

    outputs = {name: (_mask_all(value) if name in run.secret_outputs else value)
               for name, value in run.outputs.items()}
    save(out / "outputs.json", json.dumps(outputs, indent=2, sort_keys=True) + "\n")

    for resource in run.kubernetes_objects():
        obj = masked_object(resource)
        save(out / "manifests" / manifest_filename(obj), to_yaml(obj))

    for name, text in user_data(run).items():
        save(out / "cloud-init" / f"{name}.yaml", text)

    for path, text in config_files(run).items():
        save(out / "files" / path, text)

    return out
