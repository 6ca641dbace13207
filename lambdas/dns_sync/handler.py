"""dns_sync: keeps a cluster's node names in a private Route53 zone equal to its groups' addresses.

What it maintains
    One A record per role, `{Role}.{KubernetesCluster}.{DOMAIN}.` (`masters.demo.k8s.`,
    `minions.demo.k8s.`), holding the private IPv4 addresses of the instances that are
    `InService` in the auto scaling groups tagged `KubernetesCluster=<CLUSTER_NAME>` and
    `Role=<role>`, and `running` in EC2. TTL 30 seconds.

How
    Every invocation rebuilds the record of a role from the groups' current state: an UPSERT with
    the full sorted address set, or a DELETE (with the record's current value, read first) when
    no instance is left. It never adds or removes a single address, so duplicated, late, reordered
    or lost events cannot leave a wrong record; a record that already holds the right set is left
    alone.

    Invocations overlap (a burst of launches, the scheduled run), and one that read the groups
    earlier may write last. So after each write the groups are read again and the record rebuilt
    until the two agree, at most `MAX_WRITES` times: whichever invocation writes last checks its
    write against the groups as they are afterwards. Groups that keep changing for longer are
    left to the invocation their next event starts, or to the scheduled run.

Triggers (EventBridge)
    `aws.autoscaling` `EC2 Instance Launch Successful` / `EC2 Instance Terminate Successful`:
        reconcile the role of the event's group, if that group belongs to this cluster; groups of
        other clusters (or without a known role) are logged and ignored.
    `aws.events` `Scheduled Event`: reconcile both roles, which repairs whatever a lost event or a
        hand edit left behind.

Settings (environment)
    `ZONE_ID`       the private hosted zone's id (`Z...` or `/hostedzone/Z...`)
    `DOMAIN`        the zone's domain, e.g. `k8s`
    `CLUSTER_NAME`  the value of the groups' `KubernetesCluster` tag, e.g. `demo`

Endpoints and credentials come from boto3's usual settings (`AWS_ENDPOINT_URL`,
`AWS_ENDPOINT_URL_ROUTE_53`, ...), so the function can be pointed at a test server. Throttled
calls (Route53's `Throttling` and `PriorRequestNotComplete` included) are retried by botocore's
standard retry mode with exponential backoff and jitter; when the attempts run out the invocation
fails and Lambda's own retries, then the next scheduled run, take over.

Permissions: `autoscaling:DescribeAutoScalingGroups` and `ec2:DescribeInstances` (no resource
scoping exists for them), `route53:ListResourceRecordSets` and `route53:ChangeResourceRecordSets`
on the zone only.

Destroy: a zone holding records other than SOA and NS cannot be deleted.
`delete_managed_records(zone_id, cluster)` removes what this function wrote; from a shell:
`python handler.py delete-managed-records --zone-id Z... --cluster demo`.

Logs are JSON lines on stdout, one per event, decision and change. Returns a summary dict.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

ROLES = ("masters", "minions")
CLUSTER_TAG = "KubernetesCluster"
ROLE_TAG = "Role"
RECORD_TTL = 30

LAUNCH_SUCCESSFUL = "EC2 Instance Launch Successful"
TERMINATE_SUCCESSFUL = "EC2 Instance Terminate Successful"
SCHEDULED = "Scheduled Event"

# Standard mode retries the throttling codes of every service, Route53's `Throttling` and
# `PriorRequestNotComplete` among them (botocore.retries.standard), with backoff and jitter.
# MAX_ATTEMPTS counts the first call too; botocore rewrites the dict, so keep the number here.
MAX_ATTEMPTS = 8
RETRY_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS})

# EC2 accepts at most 200 values per filter.
EC2_FILTER_VALUES = 200

# Writes of one role's record per invocation while the groups change underneath (see How).
MAX_WRITES = 3

LOG = logging.getLogger("dns_sync")


# logging

class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _StdoutHandler(logging.Handler):
    # Looks up sys.stdout at each record, so whoever replaced it (Lambda, pytest) gets the line.
    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # logging must never break the function
            self.handleError(record)


if not LOG.handlers:
    _handler = _StdoutHandler()
    _handler.setFormatter(_JsonLines())
    LOG.addHandler(_handler)
    LOG.setLevel(logging.INFO)
    # The Lambda runtime puts its own handler on the root logger; one line per record is enough.
    LOG.propagate = False


def _log(level: int, message: str, **fields: Any) -> None:
    LOG.log(level, message, extra={"fields": fields})


# settings and clients

@dataclass(frozen=True)
class Settings:
    zone_id: str
    domain: str
    cluster: str

    @classmethod
    def from_environment(cls, environ: Any = os.environ) -> Settings:
        names = ("ZONE_ID", "DOMAIN", "CLUSTER_NAME")
        missing = [name for name in names if not environ.get(name, "").strip()]
        if missing:
            raise RuntimeError(f"dns_sync needs the environment variables {', '.join(missing)}")
        return cls(
            zone_id=_bare_zone_id(environ["ZONE_ID"]),
            domain=environ["DOMAIN"].strip().strip(".").lower(),
            cluster=environ["CLUSTER_NAME"].strip(),
        )

    def record_name(self, role: str) -> str:
        return record_name(role, self.cluster, self.domain)


@dataclass(frozen=True)
class Clients:
    autoscaling: Any
    ec2: Any
    route53: Any

    @classmethod
    def create(cls, session: boto3.session.Session | None = None) -> Clients:
        # A fresh session reads the environment (endpoints, region, credentials) as it is now.
        session = session or boto3.session.Session()
        return cls(*(session.client(name, config=RETRY_CONFIG)
                     for name in ("autoscaling", "ec2", "route53")))


def record_name(role: str, cluster: str, domain: str) -> str:
    return f"{role}.{cluster}.{domain.strip('.')}.".lower()


def _bare_zone_id(zone_id: str) -> str:
    return zone_id.strip().removeprefix("/hostedzone/")


# what the groups say

def _tags(group: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in group.get("Tags", [])}


def groups_of_role(autoscaling: Any, cluster: str, role: str) -> list[dict]:
    filters = [
        {"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},
        {"Name": f"tag:{ROLE_TAG}", "Values": [role]},
    ]
    pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(Filters=filters)
    return [group for page in pages for group in page["AutoScalingGroups"]]


def in_service_instance_ids(groups: list[dict]) -> list[str]:
    # A terminating or standby instance stays listed for a while: only InService ones count.
    return sorted({
        instance["InstanceId"]
        for group in groups
        for instance in group.get("Instances", [])
        if instance.get("LifecycleState") == "InService"
    })


def running_private_addresses(ec2: Any, instance_ids: list[str]) -> list[str]:
    # Filters rather than InstanceIds: an instance that is already gone is then no error.
    addresses: set[str] = set()
    paginator = ec2.get_paginator("describe_instances")
    for start in range(0, len(instance_ids), EC2_FILTER_VALUES):
        filters = [
            {"Name": "instance-id", "Values": instance_ids[start:start + EC2_FILTER_VALUES]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
        for page in paginator.paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    if instance.get("PrivateIpAddress"):
                        addresses.add(instance["PrivateIpAddress"])
    return sorted(addresses, key=ipaddress.IPv4Address)


# what the zone says

def current_record(route53: Any, zone_id: str, name: str) -> dict | None:
    """The simple A record called `name`, exactly as Route53 holds it, or None."""
    page = route53.list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=name, StartRecordType="A", MaxItems="10")
    for record in page["ResourceRecordSets"]:
        if (record["Name"].lower() == name and record["Type"] == "A"
                and "SetIdentifier" not in record):
            return record
    return None


def _addresses_of(record: dict) -> list[str]:
    return sorted((value["Value"] for value in record.get("ResourceRecords", [])),
                  key=ipaddress.IPv4Address)


def _holds(record: dict | None, addresses: list[str]) -> bool:
    return (record is not None and "AliasTarget" not in record
            and record.get("TTL") == RECORD_TTL and _addresses_of(record) == addresses)


def _change(route53: Any, zone_id: str, action: str, record: dict, reason: str) -> None:
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Comment": f"dns_sync: {reason}"[:256],
                     "Changes": [{"Action": action, "ResourceRecordSet": record}]},
    )


# reconcile

def serving_addresses(clients: Clients, cluster: str, role: str) -> tuple[list[dict], list[str]]:
    """The role's groups, and the addresses of their InService, running instances."""
    groups = groups_of_role(clients.autoscaling, cluster, role)
    return groups, running_private_addresses(clients.ec2, in_service_instance_ids(groups))


def _make_record_hold(route53: Any, zone_id: str, name: str, addresses: list[str],
                      current: dict | None, reason: str) -> str:
    """Write the record so that it holds `addresses` (none: no record); the action taken."""
    if addresses and not _holds(current, addresses):
        desired = {"Name": name, "Type": "A", "TTL": RECORD_TTL,
                   "ResourceRecords": [{"Value": address} for address in addresses]}
        _change(route53, zone_id, "UPSERT", desired, reason)
        return "UPSERT"
    if not addresses and current is not None:
        # DELETE must repeat the record's current value exactly, hence the read before.
        _change(route53, zone_id, "DELETE", current, reason)
        return "DELETE"
    return "NONE"


def reconcile_role(role: str, settings: Settings, clients: Clients, reason: str) -> dict:
    """Make the role's record hold exactly the addresses of its InService, running instances."""
    name = settings.record_name(role)
    groups, addresses = serving_addresses(clients, settings.cluster, role)
    current = current_record(clients.route53, settings.zone_id, name)
    previous = _addresses_of(current) if current else []

    action = "NONE"
    for write in range(1, MAX_WRITES + 1):
        written = _make_record_hold(clients.route53, settings.zone_id, name, addresses, current,
                                    reason)
        if written == "NONE":
            break
        action = written
        groups, now = serving_addresses(clients, settings.cluster, role)
        if now == addresses:
            break
        if write == MAX_WRITES:
            _log(logging.WARNING, "groups still changing; the next event or scheduled run "
                 "finishes the record", record=name, written=addresses, serving=now,
                 writes=write)
            break
        _log(logging.INFO, "groups changed while the record was written; writing again",
             record=name, written=addresses, serving=now)
        addresses = now
        current = current_record(clients.route53, settings.zone_id, name)

    result = {
        "record": name,
        "action": action,
        "addresses": addresses,
        "previous": previous,
        "groups": sorted(group["AutoScalingGroupName"] for group in groups),
    }
    _log(logging.INFO, "record changed" if action != "NONE" else "record already right", **result)
    return result


def role_of_group(autoscaling: Any, group_name: str, cluster: str) -> str | None:
    """The group's role when it belongs to `cluster`; None (and a log line) otherwise."""
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])
    if not found["AutoScalingGroups"]:
        _log(logging.WARNING, "group not found, ignored; the scheduled run will catch up",
             group=group_name)
        return None
    tags = _tags(found["AutoScalingGroups"][0])
    if tags.get(CLUSTER_TAG) != cluster:
        _log(logging.INFO, "group of another cluster, ignored",
             group=group_name, group_cluster=tags.get(CLUSTER_TAG))
        return None
    if tags.get(ROLE_TAG) not in ROLES:
        _log(logging.WARNING, "group without a known role, ignored",
             group=group_name, role=tags.get(ROLE_TAG))
        return None
    return tags[ROLE_TAG]


def roles_for_event(event: dict, settings: Settings, clients: Clients) -> tuple[list[str], str]:
    """Which roles to reconcile for `event`, and why (a short reason for logs and change comments).
    """
    source, kind = event.get("source"), event.get("detail-type")
    if source == "aws.events" and kind == SCHEDULED:
        return list(ROLES), "scheduled run"
    if source == "aws.autoscaling" and kind in (LAUNCH_SUCCESSFUL, TERMINATE_SUCCESSFUL):
        detail = event.get("detail") or {}
        group_name = detail.get("AutoScalingGroupName")
        reason = f"{kind}: {group_name} {detail.get('EC2InstanceId', '')}".strip()
        if not group_name:
            return [], reason
        role = role_of_group(clients.autoscaling, group_name, settings.cluster)
        return ([role] if role else []), reason
    return [], f"unhandled event {source!r} {kind!r}"


def handler(event: dict, context: Any) -> dict:
    """Lambda entry point: reconcile the roles the event concerns and summarize what changed."""
    settings = Settings.from_environment()
    clients = Clients.create()
    _log(logging.INFO, "event received", cluster=settings.cluster, zone=settings.zone_id,
         source=event.get("source"), detail_type=event.get("detail-type"),
         detail=event.get("detail"), request_id=getattr(context, "aws_request_id", None))

    roles, reason = roles_for_event(event, settings, clients)
    if not roles:
        _log(logging.INFO, "nothing to reconcile", reason=reason)
    records = [reconcile_role(role, settings, clients, reason) for role in roles]
    return {
        "cluster": settings.cluster,
        "reason": reason,
        "roles": roles,
        "changed": sum(record["action"] != "NONE" for record in records),
        "records": records,
    }


# destroy

def delete_managed_records(zone_id: str, cluster: str,
                           session: boto3.session.Session | None = None) -> list[str]:
    """Delete the records this function keeps for `cluster` in the zone; returns their names.

    Run it before deleting the zone (Route53 refuses to delete a zone that holds more than SOA
    and NS), after the function and its rules are gone so nothing writes them again. Records
    that are already absent are fine.
    """
    route53 = (session or boto3.session.Session()).client("route53", config=RETRY_CONFIG)
    zone_id = _bare_zone_id(zone_id)
    domain = route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"]
    deleted = []
    for role in ROLES:
        name = record_name(role, cluster, domain)
        record = current_record(route53, zone_id, name)
        if record is not None:
            _change(route53, zone_id, "DELETE", record, f"delete_managed_records {cluster}")
            deleted.append(name)
    _log(logging.INFO, "managed records deleted", zone=zone_id, cluster=cluster, records=deleted)
    return deleted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="handler.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    delete = commands.add_parser("delete-managed-records",
                                 help="delete the cluster's records so the zone can be deleted")
    delete.add_argument("--zone-id", required=True)
    delete.add_argument("--cluster", required=True)
    arguments = parser.parse_args(argv)
    delete_managed_records(arguments.zone_id, arguments.cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
