"""One group of identical nodes (the masters, or the minions): an instance role, a launch
template and an auto scaling group tagged so the DNS function and the cloud controller manager
find its instances."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_aws import autoscaling, ec2, iam

from components.aws.tags import group_tags, node_tags
from components.aws.trust import service_trust

# EC2 refuses user-data above 16 KiB (before base64), compressed or not.
USER_DATA_LIMIT = 16 * 1024


@dataclass(frozen=True)
class NodeGroupArgs:
    cluster_name: str
    role: Literal["masters", "minions"]
    count: int
    instance_type: str
    image_id: str
    root_device_name: str
    """The image's root device (`/dev/xvda` on Debian): naming another adds a second disk."""
    root_volume_gb: int
    user_data: pulumi.Input[str]
    """The node's `#cloud-config`; it carries bootstrap secrets, so it must be a secret."""
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_ids: Sequence[pulumi.Input[str]]
    target_group_arns: Sequence[pulumi.Input[str]] = ()
    """Load balancer target groups the group's instances join (the API's, for masters)."""
    key_name: str | None = None
    """EC2 key pair for SSH; None installs no key."""

    def __post_init__(self) -> None:
        if self.role not in ("masters", "minions"):
            raise ValueError(f"role must be masters or minions, not {self.role!r}")
        if self.count < 1:
            raise ValueError(f"count must be at least 1, not {self.count}")
        if not 8 <= self.root_volume_gb <= 16384:
            raise ValueError(f"root_volume_gb must be between 8 and 16384, not "
                             f"{self.root_volume_gb}")
        if not self.subnet_ids:
            raise ValueError("subnet_ids is empty")

    @property
    def group_name(self) -> str:
        """The auto scaling group's name, known before it exists so the DNS rule can name it."""
        return f"{self.cluster_name}-{self.role}"


def encode_user_data(text: str) -> str:
    """Base64 of the user-data, gzipped when too large as text (cloud-init unpacks it)."""
    raw = text.encode()
    if len(raw) > USER_DATA_LIMIT:
        # mtime=0: the same text gives the same bytes, so the launch template stays unchanged
        raw = gzip.compress(raw, compresslevel=9, mtime=0)
    if len(raw) > USER_DATA_LIMIT:
        raise ValueError(f"user-data is {len(raw)} bytes even gzipped; EC2 accepts at most "
                         f"{USER_DATA_LIMIT}")
    return base64.b64encode(raw).decode()


class NodeGroup(pulumi.ComponentResource):
    group_name: pulumi.Output[str]
    role: iam.Role
    """The instances' IAM role, for the policies of what runs on them."""
    launch_template: ec2.LaunchTemplate
    group: autoscaling.Group

    def __init__(self, name: str, args: NodeGroupArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:aws:NodeGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = node_tags(args.cluster_name, args.role, args.group_name)

        self.role = iam.Role(
            f"{name}-role",
            assume_role_policy=service_trust("ec2.amazonaws.com"),
            description=f"{args.group_name} instances",
            tags=tags,
            opts=child,
        )
        profile = iam.InstanceProfile(
            f"{name}-profile",
            role=self.role.name,
            tags=tags,
            opts=child,
        )

        self.launch_template = ec2.LaunchTemplate(
            f"{name}-template",
            description=f"{args.group_name} nodes",
            image_id=args.image_id,
            instance_type=args.instance_type,
            key_name=args.key_name,
            iam_instance_profile={"arn": profile.arn},
            vpc_security_group_ids=list(args.security_group_ids),
            user_data=pulumi.Output.secret(
                pulumi.Output.from_input(args.user_data).apply(encode_user_data)),
            # IMDSv2 only, and a hop limit of 1: a pod (one hop further) never reaches the
            # metadata service, so it cannot read the user-data or the instance's credentials.
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            block_device_mappings=[{
                "device_name": args.root_device_name,
                "ebs": {
                    "volume_size": args.root_volume_gb,
                    "volume_type": "gp3",
                    "encrypted": "true",
                    "delete_on_termination": "true",
                },
            }],
            tag_specifications=[{"resource_type": "volume", "tags": tags}],
            update_default_version=True,
            tags=tags,
            opts=child,
        )

        # Launching a new template version replaces no running node by itself: rolling the
        # masters one by one is a decision for an operator, not a side effect of `pulumi up`.
        self.group = autoscaling.Group(
            f"{name}-group",
            name=args.group_name,
            min_size=args.count,
            max_size=args.count,
            desired_capacity=args.count,
            vpc_zone_identifiers=list(args.subnet_ids),
            launch_template={"id": self.launch_template.id,
                             "version": self.launch_template.latest_version.apply(str)},
            target_group_arns=list(args.target_group_arns),
            health_check_type="EC2",
            health_check_grace_period=600,
            tags=group_tags(tags),
            opts=child,
        )

        self.group_name = self.group.name
        self.register_outputs({"groupName": self.group_name, "roleName": self.role.name})
