"""Node names kept by events: the private zone `k8s`, and the DNS function that rebuilds
`{Role}.{KubernetesCluster}.k8s` from the auto scaling groups whenever they launch or terminate an
instance, and every five minutes in case an event was lost.

The zone is created with `force_destroy`, so `pulumi destroy` removes it together with the A
records the function wrote (which Pulumi never knew about).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_aws import cloudwatch, iam, lambda_, route53

from components.aws.tags import cluster_tags
from components.aws.trust import service_trust

DOMAIN = "k8s"
FUNCTION_DIR = Path(__file__).resolve().parents[2] / "lambdas" / "dns_sync"
RUNTIME = "python3.13"
REPAIR_SCHEDULE = "rate(5 minutes)"
LOG_RETENTION_DAYS = 14

GROUP_EVENTS = ("EC2 Instance Launch Successful", "EC2 Instance Terminate Successful")


@dataclass(frozen=True)
class NodeDnsArgs:
    cluster_name: str
    vpc_id: pulumi.Input[str]
    group_names: Sequence[str]
    """The auto scaling groups whose events the function follows (masters, minions)."""

    def __post_init__(self) -> None:
        if not self.group_names:
            raise ValueError("group_names is empty: the function would never be told anything")

    @property
    def function_name(self) -> str:
        # Named up front, so its log group (with a retention) exists before its first line.
        return f"{self.cluster_name}-dns-sync"


def event_pattern(group_names: Sequence[str]) -> str:
    """Successful launches and terminations of exactly these groups."""
    return json.dumps({
        "source": ["aws.autoscaling"],
        "detail-type": list(GROUP_EVENTS),
        "detail": {"AutoScalingGroupName": list(group_names)},
    })


def function_policy(zone_arn: str, log_group_arn: str) -> str:
    """Change records in the one zone; otherwise only describe and write its own logs."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RecordsOfTheClusterZone",
                "Effect": "Allow",
                "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                "Resource": [zone_arn],
            },
            {
                # these describe calls have no resource-level permissions
                "Sid": "DescribeGroupsAndInstances",
                "Effect": "Allow",
                "Action": ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"],
                "Resource": ["*"],
            },
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"{log_group_arn}:*"],
            },
        ],
    })


def function_code() -> pulumi.AssetArchive:
    """The function's Python files (its tests live under tests/, not beside it)."""
    files = sorted(p for p in FUNCTION_DIR.glob("*.py") if not p.name.startswith("test_"))
    if not any(p.name == "handler.py" for p in files):
        raise FileNotFoundError(f"{FUNCTION_DIR / 'handler.py'} is missing")
    return pulumi.AssetArchive({p.name: pulumi.FileAsset(_portable(p)) for p in files})


def _portable(path: Path) -> str:
    # Pulumi runs the program from the project folder: a relative path reads the same in
    # every checkout, and keeps the local folder's name out of the state and the render.
    cwd = Path.cwd()
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


class NodeDns(pulumi.ComponentResource):
    zone_id: pulumi.Output[str]
    function_name: pulumi.Output[str]

    def __init__(self, name: str, args: NodeDnsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:aws:NodeDns", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster_name
        tags = cluster_tags(cluster, args.function_name)

        zone = route53.Zone(
            f"{name}-zone",
            name=DOMAIN,
            comment=f"{cluster} node names, kept by {args.function_name}",
            vpcs=[{"vpc_id": args.vpc_id}],
            force_destroy=True,
            tags=cluster_tags(cluster, f"{cluster}-{DOMAIN}"),
            opts=child,
        )

        logs = cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=LOG_RETENTION_DAYS,
            tags=tags,
            opts=child,
        )

        role = iam.Role(
            f"{name}-role",
            assume_role_policy=service_trust("lambda.amazonaws.com"),
            description=f"{args.function_name}: records of the {cluster} zone",
            tags=tags,
            opts=child,
        )
        policy = iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(zone.arn, logs.arn).apply(
                lambda arns: function_policy(arns[0], arns[1])),
            opts=child,
        )

        function = lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description=f"Keeps {{masters,minions}}.{cluster}.{DOMAIN} equal to the groups' "
                        "private addresses",
            runtime=RUNTIME,
            architectures=["arm64"],
            handler="handler.handler",
            code=function_code(),
            role=role.arn,
            timeout=60,
            # No reserved concurrency: new accounts cannot reserve any. Overlapping runs may
            # finish in any order, so a run re-reads the groups after each write and writes
            # again until the two agree (handler.reconcile_role): the last writer checks last.
            memory_size=128,
            environment={"variables": {
                "ZONE_ID": zone.zone_id,
                "DOMAIN": DOMAIN,
                "CLUSTER_NAME": cluster,
            }},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs, policy]),
        )

        group_events = cloudwatch.EventRule(
            f"{name}-group-events",
            description=f"Launches and terminations of the {cluster} node groups",
            event_pattern=event_pattern(args.group_names),
            tags=tags,
            opts=child,
        )
        repair = cloudwatch.EventRule(
            f"{name}-repair",
            description=f"Periodic rebuild of the {cluster} node records (lost events)",
            schedule_expression=REPAIR_SCHEDULE,
            tags=tags,
            opts=child,
        )

        for rule_name, rule in (("group-events", group_events), ("repair", repair)):
            permission = lambda_.Permission(
                f"{name}-{rule_name}",
                action="lambda:InvokeFunction",
                function=function.name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
                opts=child,
            )
            cloudwatch.EventTarget(
                f"{name}-{rule_name}",
                rule=rule.name,
                arn=function.arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
            )

        self.zone_id = zone.zone_id
        self.function_name = function.name
        self.register_outputs({"zoneId": self.zone_id, "functionName": self.function_name})
