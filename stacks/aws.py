"""The AWS stack: a kubeadm cluster on two auto scaling groups (masters, minions) in a VPC of
public subnets, the API behind a network load balancer, node names kept in a private zone by an
event-driven function, and the AWS cloud controller manager and EBS CSI driver in the cluster.

Cost-relevant defaults: no NAT gateway (nodes have public addresses, locked down by security
groups), one network load balancer for the API, gp3 root volumes of `awsRootVolumeGb` GiB.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_aws import get_availability_zones

from components.aws.api_load_balancer import API_PORT, ApiLoadBalancer, ApiLoadBalancerArgs
from components.aws.cloud_integration import CloudIntegration, CloudIntegrationArgs
from components.aws.dns import NodeDns, NodeDnsArgs
from components.aws.image import node_image
from components.aws.network import Network, NetworkArgs
from components.aws.node_group import NodeGroup, NodeGroupArgs
from components.aws.public_dns import PublicNames, PublicNamesArgs
from components.aws.security import SecurityGroups, SecurityGroupsArgs
from components.bootstrap import ClusterBootstrap, ClusterBootstrapArgs
from components.readiness import ReadinessGate, ReadinessGateArgs
from stacks.cluster import Cluster, Exposure, NodeGroupSummary
from stacks.settings import Reader, Settings

ZONE_COUNT = 2

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$")


@dataclass(frozen=True)
class AwsSettings:
    """What only the AWS stack reads, validated with the shared settings' reader."""

    region: str
    ssh_allowed_cidrs: tuple[str, ...]
    ssh_key_name: str | None
    public_zone: str | None
    root_volume_gb: int


def read_settings(read: Reader) -> AwsSettings:
    """The AWS-only keys, their problems added to the shared settings' report."""
    region = (pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION")
              or os.environ.get("AWS_DEFAULT_REGION") or "")
    if not _REGION.match(region):
        what = f"{region!r} is not an AWS region." if region else "is required and not set."
        read.problems.append(f"aws:region: {what} Set it with "
                             "`pulumi config set aws:region us-east-1`.")

    ssh_allowed = read.cidr_list("awsSshAllowedCidrs", required=False)
    ssh_key_name = read.text("awsSshKeyName")

    public_zone = read.text("awsPublicZone")
    if public_zone and not _DOMAIN.match(public_zone.lower()):
        read.fail("awsPublicZone", f"{public_zone!r} is not a DNS zone name.")

    root_volume_gb = read.integer("awsRootVolumeGb", 8, 16384)
    return AwsSettings(
        region=region,
        ssh_allowed_cidrs=ssh_allowed,
        ssh_key_name=ssh_key_name,
        public_zone=public_zone.rstrip(".").lower() if public_zone else None,
        root_volume_gb=root_volume_gb,
    )


def _warn_about_ssh(aws: AwsSettings) -> None:
    if any(ipaddress.ip_network(c).prefixlen == 0 for c in aws.ssh_allowed_cidrs):
        pulumi.log.warn("cncfdemo:awsSshAllowedCidrs opens SSH on every node to the whole "
                        "Internet. Narrow it with `pulumi config set --path "
                        "'cncfdemo:awsSshAllowedCidrs[0]' <your-address>/32`.")
    if aws.ssh_allowed_cidrs and not aws.ssh_key_name:
        pulumi.log.warn("cncfdemo:awsSshAllowedCidrs is set but cncfdemo:awsSshKeyName is not: "
                        "port 22 is open, yet no key is installed to log in with.")


def create_cluster(settings: Settings) -> Cluster:
    aws: AwsSettings = settings.provider_settings
    _warn_about_ssh(aws)
    name = settings.cluster_name

    zones = get_availability_zones(state="available").names[:ZONE_COUNT]
    network = Network(f"{name}-network", NetworkArgs(
        cluster_name=name, cidr=settings.node_cidr, zones=tuple(zones)))
    security = SecurityGroups(f"{name}-security", SecurityGroupsArgs(
        cluster_name=name,
        vpc_id=network.vpc_id,
        vpc_cidr=network.cidr,
        api_allowed_cidrs=settings.api_allowed_cidrs,
        ssh_allowed_cidrs=aws.ssh_allowed_cidrs,
    ))
    api = ApiLoadBalancer(f"{name}-api", ApiLoadBalancerArgs(
        cluster_name=name, vpc_id=network.vpc_id, subnet_ids=network.subnet_ids,
        routes_to_internet=network.routes_to_internet))
    api_endpoint = pulumi.Output.concat("https://", api.dns_name, f":{API_PORT}")

    bootstrap = ClusterBootstrap(f"{name}-bootstrap", ClusterBootstrapArgs(
        cluster_name=name,
        kubernetes_version=settings.kubernetes_version,
        master_count=settings.master_count,
        pod_cidr=settings.pod_cidr,
        service_cidr=settings.service_cidr,
        public_api_endpoint=api_endpoint,
        api_server_names=[api.dns_name],
        node_image_prebuilt=bool(settings.node_image),
        cloud_provider_external=True,
        # The AWS cloud controller finds the instance behind a node by its full private DNS name.
        fqdn_node_names=True,
    ))

    # Named before they exist, so the DNS function hears the first launch of each group.
    groups = {role: f"{name}-{role}" for role in ("masters", "minions")}
    dns = NodeDns(f"{name}-dns", NodeDnsArgs(
        cluster_name=name, vpc_id=network.vpc_id, group_names=tuple(groups.values())))

    node_groups: dict[str, NodeGroup] = {}
    for role, count, size in (("masters", settings.master_count, settings.master_size),
                              ("minions", settings.minion_count, settings.minion_size)):
        image = node_image(settings.node_image, size)
        node_groups[role] = NodeGroup(
            f"{name}-{role}",
            NodeGroupArgs(
                cluster_name=name,
                role=role,
                count=count,
                instance_type=size,
                image_id=image.id,
                root_device_name=image.root_device_name,
                root_volume_gb=aws.root_volume_gb,
                user_data=bootstrap.user_data(role),
                subnet_ids=network.subnet_ids,
                security_group_ids=([security.nodes_id, security.masters_id]
                                    if role == "masters" else [security.nodes_id]),
                target_group_arns=[api.target_group_arn] if role == "masters" else [],
                key_name=aws.ssh_key_name,
            ),
            opts=pulumi.ResourceOptions(depends_on=[network, dns]),
        )
        pulumi.log.info(f"{role}: {count} x {size} from {image.description} ({image.id})")

    expected_nodes = settings.master_count + settings.minion_count
    gate = ReadinessGate(
        f"{name}-ready",
        ReadinessGateArgs(
            kubeconfig=bootstrap.admin_kubeconfig,
            expected_nodes=expected_nodes,
            triggers=[group.group.id for group in node_groups.values()],
        ),
        opts=pulumi.ResourceOptions(depends_on=[*node_groups.values(), api, dns]),
    )

    # The controllers go through their own provider; the workloads' provider also waits for
    # them, so at destroy every workload is deleted while they still run.
    system = k8s.Provider(
        f"{name}-k8s-system",
        kubeconfig=bootstrap.admin_kubeconfig,
        opts=pulumi.ResourceOptions(depends_on=[gate.command]),
    )
    integration = CloudIntegration(
        f"{name}-cloud",
        CloudIntegrationArgs(
            cluster_name=name,
            kubernetes_version=settings.kubernetes_version,
            region=aws.region,
            kubeconfig=bootstrap.admin_kubeconfig,
            masters_role_name=node_groups["masters"].role.name,
            master_count=settings.master_count,
        ),
        opts=pulumi.ResourceOptions(providers=[system]),
    )
    provider = k8s.Provider(
        f"{name}-k8s",
        kubeconfig=bootstrap.admin_kubeconfig,
        opts=pulumi.ResourceOptions(depends_on=[gate.command, *integration.ready]),
    )

    public_names = None
    if aws.public_zone:
        public_names = PublicNames(f"{name}-public", PublicNamesArgs(
            cluster_name=name, zone_name=aws.public_zone))

    return Cluster(
        name=name,
        provider_name="aws",
        region=aws.region,
        kubernetes_version=settings.kubernetes_version,
        api_endpoint=api_endpoint,
        kubeconfig=bootstrap.admin_kubeconfig,
        k8s_provider=provider,
        node_groups=(
            NodeGroupSummary("masters", settings.master_count, settings.master_size,
                             aws.region, aws.root_volume_gb),
            NodeGroupSummary("minions", settings.minion_count, settings.minion_size,
                             aws.region, aws.root_volume_gb),
        ),
        exposure=Exposure(service_type="LoadBalancer"),
        storage_class=integration.storage_class,
        ready=tuple(integration.ready),
        publish_name=public_names.publish if public_names else None,
    )
