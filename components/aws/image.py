"""Which machine image the nodes boot: the prebuilt one from `cncfdemo:nodeImage`, or the
current stock Debian 12 image of the right architecture, looked up by name and owner."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
from pulumi_aws import ec2

# Debian's own account publishes the official cloud images.
DEBIAN_OWNER = "136693071363"
DEBIAN_NAME = "debian-12-{arch}-*"

# Graviton families put a `g` right after the generation: t4g, m7g, c7gn, r8gd, im4gn.
_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*\.")


@dataclass(frozen=True)
class NodeImage:
    id: str
    root_device_name: str
    description: str


def architecture(instance_type: str) -> str:
    """The image architecture an instance type needs (as AWS spells it)."""
    return "arm64" if _GRAVITON.match(instance_type) else "x86_64"


def node_image(prebuilt: str | None, instance_type: str) -> NodeImage:
    """The image for nodes of `instance_type`; the root device name sizes the right volume."""
    arch = architecture(instance_type)
    if prebuilt:
        found = ec2.get_ami(filters=[{"name": "image-id", "values": [prebuilt]}],
                            most_recent=True)
        if found.architecture and found.architecture != arch:
            raise pulumi.RunError(
                f"cncfdemo:nodeImage: {prebuilt} is an {found.architecture} image, but "
                f"{instance_type} machines need {arch}. Build the image for {arch}, or choose "
                "another machine type with `pulumi config set cncfdemo:masterSize ...` "
                "(or minionSize).")
        return NodeImage(found.id, found.root_device_name or "/dev/xvda",
                         f"prebuilt {prebuilt}")
    debian_arch = "amd64" if arch == "x86_64" else "arm64"
    found = ec2.get_ami(
        owners=[DEBIAN_OWNER],
        most_recent=True,
        filters=[
            {"name": "name", "values": [DEBIAN_NAME.format(arch=debian_arch)]},
            {"name": "architecture", "values": [arch]},
            {"name": "virtualization-type", "values": ["hvm"]},
            {"name": "root-device-type", "values": ["ebs"]},
        ],
    )
    return NodeImage(found.id, found.root_device_name or "/dev/xvda",
                     f"stock Debian 12 {debian_arch}")
