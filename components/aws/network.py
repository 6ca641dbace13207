"""The cluster's VPC: public subnets in two availability zones, routed to an internet gateway.

Cost-conscious default: nodes live in public subnets with public IPv4 addresses, and there is no
NAT gateway. A NAT gateway costs about five times a node's public address per hour, plus a
charge per GB that every image pull and package download would pay. The nodes are no more
exposed for it: the security groups (security.py) admit nothing from outside but the API port
from `apiAllowedCidrs` and, only when configured, SSH.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
from pulumi_aws import ec2

from components.aws.tags import cluster_tags

# Each subnet takes a quarter of the node range, leaving room for two more zones later.
SUBNET_PREFIX_DIFF = 2


@dataclass(frozen=True)
class NetworkArgs:
    cluster_name: str
    cidr: str
    """The node range (`cncfdemo:nodeCidr`), a /22 or larger."""
    zones: tuple[str, ...]
    """Availability zones to spread the subnets over; at least two."""

    def __post_init__(self) -> None:
        if len(self.zones) < 2:
            raise ValueError(f"a network needs two availability zones, got {list(self.zones)}")
        network = ipaddress.ip_network(self.cidr)
        if network.prefixlen + SUBNET_PREFIX_DIFF > 24:
            raise ValueError(f"{self.cidr} is too small to give each zone a /24 subnet")

    def subnet_cidrs(self) -> list[str]:
        subnets = ipaddress.ip_network(self.cidr).subnets(prefixlen_diff=SUBNET_PREFIX_DIFF)
        return [str(subnet) for subnet, _ in zip(subnets, self.zones, strict=False)]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    cidr: str
    subnet_ids: list[pulumi.Output[str]]
    routes_to_internet: list[pulumi.Resource]
    """The gateway, the route table with the default route and the subnets' associations:
    depend on them for anything that needs the subnets to reach, or be reached from, outside
    (AWS refuses an internet-facing load balancer in a VPC without a gateway), and so be
    deleted before them."""

    def __init__(self, name: str, args: NetworkArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster_name

        # private zones need both DNS settings on
        vpc = ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=cluster_tags(cluster, f"{cluster}-vpc"),
            opts=child,
        )

        gateway = ec2.InternetGateway(
            f"{name}-igw",
            vpc_id=vpc.id,
            tags=cluster_tags(cluster, f"{cluster}-igw"),
            opts=child,
        )

        routes = ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            tags=cluster_tags(cluster, f"{cluster}-public"),
            opts=child,
        )

        self.subnet_ids = []
        self.routes_to_internet = [gateway, routes]
        for zone, cidr in zip(args.zones, args.subnet_cidrs(), strict=False):
            subnet = ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=cidr,
                map_public_ip_on_launch=True,
                # Private DNS names like i-0123456789abcdef0.ec2.internal. The user-data makes
                # the full name the node's name (prefer_fqdn_over_hostname), and the cloud
                # controller manager finds the instance behind a node by that private DNS name.
                private_dns_hostname_type_on_launch="resource-name",
                enable_resource_name_dns_a_record_on_launch=True,
                # the cloud controller manager puts internet-facing load balancers here
                tags={**cluster_tags(cluster, f"{cluster}-public-{zone}"),
                      "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            association = ec2.RouteTableAssociation(
                f"{name}-public-{zone}",
                subnet_id=subnet.id,
                route_table_id=routes.id,
                opts=child,
            )
            self.subnet_ids.append(subnet.id)
            self.routes_to_internet.append(association)

        self.vpc_id = vpc.id
        self.cidr = args.cidr
        self.register_outputs({"vpcId": self.vpc_id, "subnetIds": self.subnet_ids})
