"""Security groups: nodes talk freely to each other; from outside only the API port is open,
and only to the configured CIDRs, plus SSH when (and to where) it is configured.

Every rule is its own resource with one CIDR, so a test (or a reviewer) sees each opening on
its own. No node port range is opened: the cloud controller manager adds the rules its load
balancers need to the nodes' group (the one tagged `kubernetes.io/cluster/<cluster>`), and
removes them with the load balancer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_aws import ec2, vpc

from components.aws.tags import cluster_tags

API_PORT = 6443
SSH_PORT = 22


@dataclass(frozen=True)
class SecurityGroupsArgs:
    cluster_name: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    api_allowed_cidrs: tuple[str, ...]
    """Who may reach the API port of the masters (through the network load balancer)."""
    ssh_allowed_cidrs: tuple[str, ...] = ()
    """Who may reach port 22 of every node; empty means no SSH rule at all."""

    def __post_init__(self) -> None:
        if not self.api_allowed_cidrs:
            raise ValueError("api_allowed_cidrs is empty: nobody could reach the API")


class SecurityGroups(pulumi.ComponentResource):
    nodes_id: pulumi.Output[str]
    """Every node's group (masters and minions), the one the cloud controller manager edits."""
    masters_id: pulumi.Output[str]
    """The masters' extra group: the API port."""

    def __init__(self, name: str, args: SecurityGroupsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:aws:SecurityGroups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster_name

        nodes = ec2.SecurityGroup(
            f"{name}-nodes",
            description=f"{cluster} nodes",
            vpc_id=args.vpc_id,
            tags=cluster_tags(cluster, f"{cluster}-nodes"),
            opts=child,
        )
        # Only the nodes' group carries the cluster tag: the cloud controller manager refuses
        # an instance with two tagged groups. The masters' group is named but not tagged.
        masters = ec2.SecurityGroup(
            f"{name}-masters",
            description=f"{cluster} masters: Kubernetes API",
            vpc_id=args.vpc_id,
            tags={"Name": f"{cluster}-masters", "KubernetesCluster": cluster},
            opts=child,
        )

        # nodes to nodes: pod traffic (IP-in-IP, VXLAN), kubelet, etcd, the API
        vpc.SecurityGroupIngressRule(
            f"{name}-nodes-from-nodes",
            security_group_id=nodes.id,
            referenced_security_group_id=nodes.id,
            ip_protocol="-1",
            description="all traffic between the cluster's nodes",
            opts=child,
        )
        # Packages, images and the AWS APIs are on the Internet; there is no NAT to narrow it.
        vpc.SecurityGroupEgressRule(
            f"{name}-nodes-egress",
            security_group_id=nodes.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="-1",
            description="outbound to anywhere",
            opts=child,
        )

        # The load balancer keeps the client's address, so the masters' group names the
        # clients themselves; the VPC range covers the load balancer's health checks.
        api_sources = dict.fromkeys((*args.api_allowed_cidrs, args.vpc_cidr))
        for index, cidr in enumerate(api_sources):
            vpc.SecurityGroupIngressRule(
                f"{name}-api-{index}",
                security_group_id=masters.id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=API_PORT,
                to_port=API_PORT,
                description="Kubernetes API" + (" (VPC, health checks)"
                                                if cidr == args.vpc_cidr else ""),
                opts=child,
            )

        for index, cidr in enumerate(args.ssh_allowed_cidrs):
            vpc.SecurityGroupIngressRule(
                f"{name}-ssh-{index}",
                security_group_id=nodes.id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=SSH_PORT,
                to_port=SSH_PORT,
                description="SSH (cncfdemo:awsSshAllowedCidrs)",
                opts=child,
            )

        self.nodes_id = nodes.id
        self.masters_id = masters.id
        self.register_outputs({"nodesId": self.nodes_id, "mastersId": self.masters_id})
