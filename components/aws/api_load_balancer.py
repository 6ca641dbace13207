"""The API's front door: an internet-facing network load balancer on TCP 6443 whose target
group the masters' auto scaling group joins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_aws import lb

from components.aws.tags import cluster_tags, limited_name

API_PORT = 6443

# AWS caps load balancer and target group names at 32 characters.
NAME_LIMIT = 32


@dataclass(frozen=True)
class ApiLoadBalancerArgs:
    cluster_name: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    routes_to_internet: Sequence[pulumi.Resource]
    """What makes the subnets public (Network.routes_to_internet): AWS refuses an
    internet-facing load balancer in a VPC that has no internet gateway attached yet."""

    def __post_init__(self) -> None:
        if len(self.subnet_ids) < 2:
            raise ValueError("the API load balancer needs subnets in two zones")
        if not self.routes_to_internet:
            raise ValueError("routes_to_internet is empty: the load balancer could be created "
                             "before its subnets are routed to an internet gateway")


class ApiLoadBalancer(pulumi.ComponentResource):
    dns_name: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    listener: lb.Listener

    def __init__(self, name: str, args: ApiLoadBalancerArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:aws:ApiLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster_name
        lb_name = limited_name(cluster, "api", NAME_LIMIT)

        balancer = lb.LoadBalancer(
            f"{name}-nlb",
            name=lb_name,
            load_balancer_type="network",
            internal=False,
            subnets=list(args.subnet_ids),
            # one master may sit in another zone than the load balancer node a client reaches
            enable_cross_zone_load_balancing=True,
            tags=cluster_tags(cluster, lb_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.routes_to_internet)),
        )

        # The API server answers /readyz to anonymous clients (kubeadm's default RBAC), so the
        # health check follows readiness, not just an open port.
        targets = lb.TargetGroup(
            f"{name}-masters",
            name=limited_name(cluster, "api-masters", NAME_LIMIT),
            port=API_PORT,
            protocol="TCP",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check={
                "protocol": "HTTPS",
                "port": str(API_PORT),
                "path": "/readyz",
                "matcher": "200",
                "interval": 10,
                "healthy_threshold": 2,
                "unhealthy_threshold": 2,
            },
            tags=cluster_tags(cluster, f"{cluster}-api-masters"),
            opts=child,
        )

        self.listener = lb.Listener(
            f"{name}-api",
            load_balancer_arn=balancer.arn,
            port=API_PORT,
            protocol="TCP",
            default_actions=[{"type": "forward", "target_group_arn": targets.arn}],
            tags=cluster_tags(cluster, f"{cluster}-api"),
            opts=child,
        )

        self.dns_name = balancer.dns_name
        self.target_group_arn = targets.arn
        self.register_outputs({"dnsName": self.dns_name})
