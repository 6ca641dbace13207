"""The DNS function (lambdas/dns_sync) against a real moto server over HTTP.

Each test starts from an empty moto, builds a VPC, the private zone `k8s` on it, a launch
template and the auto scaling groups of cluster `demo` (masters, minions) and of cluster `other`,
then drives the groups through moto's Auto Scaling API and calls `handler.handler` with the
EventBridge events AWS would send. The function reaches moto only through `AWS_ENDPOINT_URL`.
After each step the zone's record sets are read back with `list_resource_record_sets`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from lambdas.dns_sync import handler as dns_sync
from tests.moto_server import MotoServer, ThrottlingProxy

pytestmark = pytest.mark.slow

REGION = "us-east-1"
CLUSTER = "demo"
HANDLER_FILE = Path(dns_sync.__file__)
STOCK_IMAGE = "amzn2-ami-hvm-2.0.20180810-x86_64-gp2"


@pytest.fixture(scope="session")
def moto() -> MotoServer:
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def proxy(moto: MotoServer) -> ThrottlingProxy:
    throttler = ThrottlingProxy(moto.port)
    yield throttler
    throttler.stop()


def aws_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # Nothing from the machine's own AWS configuration may leak in.
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@dataclass
class World:
    """The fake account: clients for the test's own checks, and ways to move the groups."""

    autoscaling: object
    ec2: object
    route53: object
    zone_id: str
    groups: dict[str, str]  # (cluster, role) as "cluster/role" -> group name

    def group(self, cluster: str, role: str) -> str:
        return self.groups[f"{cluster}/{role}"]

    # the groups

    def describe(self, group: str) -> dict:
        return self.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[group])["AutoScalingGroups"][0]

    def instance_ids(self, group: str) -> list[str]:
        return sorted(i["InstanceId"] for i in self.describe(group)["Instances"])

    def scale(self, group: str, capacity: int) -> tuple[list[str], list[str]]:
        """Set the desired capacity; returns the instances it launched and those it removed."""
        before = set(self.instance_ids(group))
        self.autoscaling.set_desired_capacity(AutoScalingGroupName=group,
                                              DesiredCapacity=capacity)
        after = set(self.instance_ids(group))
        return sorted(after - before), sorted(before - after)

    def terminate(self, instance_id: str) -> None:
        self.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=instance_id, ShouldDecrementDesiredCapacity=True)

    def address(self, instance_id: str) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]["PrivateIpAddress"]

    def serving_addresses(self, group: str) -> list[str]:
        """The oracle: addresses of the group's InService instances that EC2 says are running."""
        ids = [i["InstanceId"] for i in self.describe(group)["Instances"]
               if i["LifecycleState"] == "InService"]
        if not ids:
            return []
        reservations = self.ec2.describe_instances(InstanceIds=ids)["Reservations"]
        return sorted(
            (i["PrivateIpAddress"] for r in reservations for i in r["Instances"]
             if i["State"]["Name"] == "running"),
            key=lambda address: tuple(int(part) for part in address.split(".")))

    # the zone

    def record_sets(self) -> list[dict]:
        pages = self.route53.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=self.zone_id)
        return [record for page in pages for record in page["ResourceRecordSets"]]

    def a_records(self) -> dict[str, dict]:
        return {r["Name"]: r for r in self.record_sets() if r["Type"] == "A"}

    def record(self, role: str, cluster: str = CLUSTER) -> dict | None:
        return self.a_records().get(f"{role}.{cluster}.k8s.")

    def addresses(self, role: str) -> list[str] | None:
        record = self.record(role)
        return None if record is None else [value["Value"] for value in record["ResourceRecords"]]

    def edit_by_hand(self, role: str, addresses: list[str], ttl: int = 300) -> None:
        self.route53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": f"{role}.{CLUSTER}.k8s.", "Type": "A", "TTL": ttl,
                "ResourceRecords": [{"Value": address} for address in addresses]}}]})


def build_world(endpoint: str) -> World:
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
    ec2 = session.client("ec2", endpoint_url=endpoint)
    autoscaling = session.client("autoscaling", endpoint_url=endpoint)
    route53 = session.client("route53", endpoint_url=endpoint)

    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{index}.0/24",
                          AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
        for index, zone in ((1, "a"), (2, "b"))
    ]
    zone = route53.create_hosted_zone(
        Name="k8s", CallerReference=str(uuid.uuid4()),
        VPC={"VPCRegion": REGION, "VPCId": vpc_id},
        HostedZoneConfig={"PrivateZone": True, "Comment": "cluster names"},
    )["HostedZone"]
    # One of the stock images moto ships; asking for all of them costs a second per test.
    image_id = ec2.describe_images(Filters=[{"Name": "name", "Values": [STOCK_IMAGE]}])[
        "Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="node", LaunchTemplateData={
        "ImageId": image_id, "InstanceType": "t3.small"})

    groups = {}
    for cluster in (CLUSTER, "other"):
        for role in dns_sync.ROLES:
            name = f"{cluster}-{role}"
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=name, MinSize=0, MaxSize=10, DesiredCapacity=0,
                LaunchTemplate={"LaunchTemplateName": "node", "Version": "$Latest"},
                VPCZoneIdentifier=",".join(subnets),
                Tags=[
                    {"Key": "KubernetesCluster", "Value": cluster, "PropagateAtLaunch": True},
                    {"Key": "Role", "Value": role, "PropagateAtLaunch": True},
                    {"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned",
                     "PropagateAtLaunch": True},
                ],
            )
            groups[f"{cluster}/{role}"] = name
    return World(autoscaling, ec2, route53, zone["Id"], groups)


@pytest.fixture
def world(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> World:
    moto.reset()
    built = build_world(moto.url)
    for key, value in aws_environment(moto.url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ZONE_ID", built.zone_id)
    monkeypatch.setenv("DOMAIN", "k8s")
    monkeypatch.setenv("CLUSTER_NAME", CLUSTER)
    return built


# the events EventBridge delivers

def instance_event(kind: str, group: str, instance_id: str) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": kind,
        "source": "aws.autoscaling",
        "account": "123456789012",
        "time": "2026-12-01T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:autoscaling:{REGION}:123456789012:autoScalingGroup:x:"
                      f"autoScalingGroupName/{group}", f"arn:aws:ec2:{REGION}:123456789012:"
                      f"instance/{instance_id}"],
        "detail": {
            "StatusCode": "InProgress",
            "AutoScalingGroupName": group,
            "ActivityId": str(uuid.uuid4()),
            "EC2InstanceId": instance_id,
            "Cause": "test",
            "Details": {"Subnet ID": "subnet-x", "Availability Zone": f"{REGION}a"},
        },
    }


def launched(group: str, instance_id: str) -> dict:
    return instance_event(dns_sync.LAUNCH_SUCCESSFUL, group, instance_id)


def terminated(group: str, instance_id: str) -> dict:
    return instance_event(dns_sync.TERMINATE_SUCCESSFUL, group, instance_id)


def scheduled() -> dict:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2026-12-01T12:05:00Z",
        "region": REGION, "resources": [f"arn:aws:events:{REGION}:123456789012:rule/demo-dns"],
        "detail": {},
    }


def invoke(event: dict) -> dict:
    return dns_sync.handler(event, None)


# launch, terminate, scale to zero

def test_launch_writes_the_groups_addresses(world: World) -> None:
    masters = world.group(CLUSTER, "masters")
    new, _ = world.scale(masters, 3)
    assert len(new) == 3

    summary = invoke(launched(masters, new[0]))

    expected = world.serving_addresses(masters)
    assert len(expected) == 3
    assert world.addresses("masters") == expected
    assert world.record("masters")["TTL"] == 30
    assert world.record("minions") is None
    assert summary["changed"] == 1
    assert summary["records"] == [{
        "record": "masters.demo.k8s.", "action": "UPSERT", "addresses": expected,
        "previous": [], "groups": [masters]}]


def test_terminate_removes_the_instance(world: World) -> None:
    minions = world.group(CLUSTER, "minions")
    new, _ = world.scale(minions, 3)
    invoke(launched(minions, new[-1]))
    gone = new[1]
    gone_address = world.address(gone)

    world.terminate(gone)
    summary = invoke(terminated(minions, gone))

    assert len(world.serving_addresses(minions)) == 2
    assert world.addresses("minions") == world.serving_addresses(minions)
    assert gone_address not in world.addresses("minions")
    assert summary["records"][0]["action"] == "UPSERT"
    assert gone_address in summary["records"][0]["previous"]


def test_scale_to_zero_deletes_the_record(world: World) -> None:
    masters = world.group(CLUSTER, "masters")
    new, _ = world.scale(masters, 2)
    invoke(launched(masters, new[0]))
    assert len(world.addresses("masters")) == 2

    _, removed = world.scale(masters, 0)
    first = invoke(terminated(masters, removed[0]))
    second = invoke(terminated(masters, removed[1]))

    assert world.record("masters") is None
    assert world.a_records() == {}
    assert first["records"][0]["action"] == "DELETE"
    # Deleting a record that is already gone is no error and no change.
    assert second["changed"] == 0
    assert second["records"][0]["action"] == "NONE"


def test_instances_not_in_service_or_not_running_are_left_out(world: World) -> None:
    # moto removes a terminated instance from its group at once, so the real window in which a
    # group still lists a `Terminating` instance cannot be produced. Standby (listed, not
    # InService) and a stopped instance (InService in the group, not running in EC2) are the
    # two states moto does model, and they exercise the same two filters.
    minions = world.group(CLUSTER, "minions")
    new, _ = world.scale(minions, 3)
    standby, stopped, serving = new
    world.autoscaling.enter_standby(AutoScalingGroupName=minions, InstanceIds=[standby],
                                    ShouldDecrementDesiredCapacity=True)
    world.ec2.stop_instances(InstanceIds=[stopped])
    lifecycle = {i["InstanceId"]: i["LifecycleState"] for i in world.describe(minions)["Instances"]}
    assert lifecycle == {standby: "Standby", stopped: "InService", serving: "InService"}

    invoke(launched(minions, serving))

    assert world.addresses("minions") == [world.address(serving)]


# events that must not change anything

def test_event_of_another_cluster_changes_nothing(world: World, capsys) -> None:
    masters = world.group(CLUSTER, "masters")
    new, _ = world.scale(masters, 2)
    invoke(launched(masters, new[0]))
    before = world.record_sets()

    other = world.group("other", "masters")
    other_new, _ = world.scale(other, 2)
    capsys.readouterr()
    summaries = [invoke(launched(other, other_new[0])), invoke(terminated(other, other_new[1]))]

    assert world.record_sets() == before
    assert all(s["roles"] == [] and s["changed"] == 0 for s in summaries)
    assert not [r["Name"] for r in world.record_sets() if "other" in r["Name"]]
    ignored = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"message": "group of another cluster, ignored", "group": other,
            "group_cluster": "other"}.items() <= next(
        line for line in ignored if line["message"].startswith("group of")).items()

    # The scheduled run writes this cluster's names only, whatever the other cluster runs.
    invoke(scheduled())
    assert sorted(world.a_records()) == ["masters.demo.k8s."]


def test_unknown_group_and_unhandled_events_change_nothing(world: World) -> None:
    masters = world.group(CLUSTER, "masters")
    new, _ = world.scale(masters, 1)
    invoke(launched(masters, new[0]))
    before = world.record_sets()

    world.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="demo-bastion", MinSize=0, MaxSize=1, DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateName": "node", "Version": "$Latest"},
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "KubernetesCluster", "Value": CLUSTER, "PropagateAtLaunch": True},
              {"Key": "Role", "Value": "bastion", "PropagateAtLaunch": True}])
    summaries = [
        invoke(launched("demo-bastion", "i-0123456789abcdef0")),
        invoke(terminated("no-such-group", "i-0123456789abcdef0")),
        invoke(instance_event("EC2 Instance Launch Unsuccessful", masters, new[0])),
        invoke({"source": "aws.autoscaling", "detail-type": dns_sync.LAUNCH_SUCCESSFUL}),
        invoke({}),
    ]

    assert all(s["roles"] == [] and s["changed"] == 0 for s in summaries)
    assert world.record_sets() == before


# events out of order, twice, or lost

def test_duplicated_and_reordered_events_give_the_same_record(world: World) -> None:
    minions = world.group(CLUSTER, "minions")
    events = []
    first, _ = world.scale(minions, 3)
    events += [launched(minions, instance) for instance in first]
    world.terminate(first[0])
    events.append(terminated(minions, first[0]))
    second, _ = world.scale(minions, 4)
    events += [launched(minions, instance) for instance in second]
    expected = world.serving_addresses(minions)
    assert len(expected) == 4

    # Late, reordered and repeated delivery: newest first, then each one again, shuffled.
    deliveries = list(reversed(events)) + events[1::2] + events[0::2]
    summaries = [invoke(event) for event in deliveries]

    assert world.addresses("minions") == expected
    assert [s["changed"] for s in summaries] == [1] + [0] * (len(deliveries) - 1)
    assert all(s["records"][0]["addresses"] == expected for s in summaries)


def test_scheduled_run_repairs_drift(world: World) -> None:
    masters, minions = world.group(CLUSTER, "masters"), world.group(CLUSTER, "minions")
    new, _ = world.scale(masters, 2)
    invoke(launched(masters, new[0]))

    # Someone edits a record by hand, and an event for new minions is lost.
    world.edit_by_hand("masters", ["10.9.9.9"])
    world.scale(minions, 2)
    assert world.addresses("masters") == ["10.9.9.9"]
    assert world.record("minions") is None

    summary = invoke(scheduled())

    assert summary["roles"] == ["masters", "minions"]
    assert summary["changed"] == 2
    assert world.addresses("masters") == world.serving_addresses(masters)
    assert world.addresses("minions") == world.serving_addresses(minions)
    assert {world.record(role)["TTL"] for role in ("masters", "minions")} == {30}

    # A record left behind for a group that has no instance any more, and a TTL edited alone.
    world.scale(minions, 0)
    world.edit_by_hand("masters", world.serving_addresses(masters), ttl=3600)
    summary = invoke(scheduled())

    assert world.record("minions") is None
    assert world.record("masters")["TTL"] == 30
    assert world.addresses("masters") == world.serving_addresses(masters)
    assert [r["action"] for r in summary["records"]] == ["UPSERT", "DELETE"]

    # Nothing drifted: the periodic run writes nothing.
    assert invoke(scheduled())["changed"] == 0


# overlapping invocations: the groups change between the read and the write

class GroupsChangeBeforeWrites:
    """The function's Route53 client, with `before(n)` run ahead of its n-th record change:
    what the groups, or another invocation, did between this invocation's read and its write."""

    def __init__(self, route53: object, before: Callable[[int], None]) -> None:
        self._route53 = route53
        self._before = before
        self.actions: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._route53, name)

    def change_resource_record_sets(self, **kwargs: object) -> dict:
        self.actions += [change["Action"] for change in kwargs["ChangeBatch"]["Changes"]]
        self._before(len(self.actions))
        return self._route53.change_resource_record_sets(**kwargs)


@pytest.fixture
def interleave(monkeypatch: pytest.MonkeyPatch) -> Callable:
    """`interleave(before)`: the next invocation's writes are preceded by `before(n)`; any
    invocation started inside `before` gets the usual clients."""
    create = dns_sync.Clients.create

    def wrap(before: Callable[[int], None]) -> GroupsChangeBeforeWrites:
        wrapped: list[GroupsChangeBeforeWrites] = []

        def create_once(session: boto3.session.Session | None = None) -> dns_sync.Clients:
            clients = create(session)
            if wrapped:
                return clients
            wrapped.append(GroupsChangeBeforeWrites(clients.route53, before))
            return replace(clients, route53=wrapped[0])

        monkeypatch.setattr(dns_sync.Clients, "create", staticmethod(create_once))
        return lambda: wrapped[0]

    return wrap


def test_an_invocation_that_read_earlier_and_writes_last_rewrites(world: World,
                                                                   interleave) -> None:
    masters = world.group(CLUSTER, "masters")
    first, _ = world.scale(masters, 2)
    later: list[dict] = []

    def another_launch_and_its_invocation(write: int) -> None:
        if write == 1:
            new, _ = world.scale(masters, 3)
            later.append(invoke(launched(masters, new[0])))

    earlier = interleave(another_launch_and_its_invocation)
    summary = invoke(launched(masters, first[0]))

    expected = world.serving_addresses(masters)
    assert len(expected) == 3
    assert later[0]["records"][0]["addresses"] == expected
    assert world.addresses("masters") == expected
    # the earlier invocation wrote its two addresses over the later three, then repaired that
    assert earlier().actions == ["UPSERT", "UPSERT"]
    assert summary["records"][0]["addresses"] == expected


def test_a_group_emptied_during_the_write_loses_its_record(world: World, interleave) -> None:
    minions = world.group(CLUSTER, "minions")
    new, _ = world.scale(minions, 2)

    def scale_to_zero(write: int) -> None:
        if write == 1:
            world.scale(minions, 0)

    writes = interleave(scale_to_zero)
    summary = invoke(launched(minions, new[0]))

    assert world.record("minions") is None
    assert writes().actions == ["UPSERT", "DELETE"]
    assert summary["records"][0]["action"] == "DELETE"
    assert summary["records"][0]["addresses"] == []


def test_groups_that_keep_changing_stop_the_rewrites_and_leave_them_to_the_next_run(
        world: World, interleave, capsys) -> None:
    masters = world.group(CLUSTER, "masters")
    new, _ = world.scale(masters, 1)

    def launch_one_more(write: int) -> None:
        world.scale(masters, 1 + write)

    writes = interleave(launch_one_more)
    capsys.readouterr()
    invoke(launched(masters, new[0]))

    assert writes().actions == ["UPSERT"] * dns_sync.MAX_WRITES
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["level"] for line in logged].count("WARNING") == 1
    assert len(world.addresses("masters")) == dns_sync.MAX_WRITES
    assert len(world.serving_addresses(masters)) == dns_sync.MAX_WRITES + 1

    invoke(scheduled())

    assert world.addresses("masters") == world.serving_addresses(masters)


# throttling

@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
@pytest.mark.parametrize("call", ["change", "list"])
def test_throttled_route53_call_is_retried(world: World, proxy: ThrottlingProxy,
                                           monkeypatch: pytest.MonkeyPatch,
                                           code: str, call: str) -> None:
    masters = world.group(CLUSTER, "masters")
    new, _ = world.scale(masters, 2)
    proxy.clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    # ChangeResourceRecordSets is a POST to .../rrset/, ListResourceRecordSets a GET of .../rrset.
    method = {"change": "POST", "list": "GET"}[call]
    fault = proxy.route53_error(method, "/rrset", code, times=1)

    summary = invoke(launched(masters, new[0]))

    assert fault.answered == 1
    route53_calls = [seen for seen in proxy.seen if seen[0] == method and "/rrset" in seen[1]]
    assert len(route53_calls) == 2, "the throttled call was not sent again"
    assert summary["changed"] == 1
    assert world.addresses("masters") == world.serving_addresses(masters)


def test_throttling_beyond_the_attempts_fails_the_invocation(
        world: World, proxy: ThrottlingProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    # The invocation must fail loudly, so that Lambda retries it; the backoff is skipped to keep
    # the test short (botocore's delay is up to 20 s per attempt).
    masters = world.group(CLUSTER, "masters")
    new, _ = world.scale(masters, 1)
    proxy.clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount",
                        lambda self, context: 0)
    fault = proxy.route53_error("POST", "/rrset", "Throttling", times=100)

    with pytest.raises(ClientError, match="Throttling"):
        invoke(launched(masters, new[0]))

    assert fault.answered == dns_sync.MAX_ATTEMPTS
    assert world.record("masters") is None


# destroy

def test_zone_deletes_after_managed_records_are_deleted(world: World) -> None:
    for role in dns_sync.ROLES:
        new, _ = world.scale(world.group(CLUSTER, role), 2)
        invoke(launched(world.group(CLUSTER, role), new[0]))
    # A name of another cluster in the same zone is not ours to delete.
    world.route53.change_resource_record_sets(HostedZoneId=world.zone_id, ChangeBatch={
        "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": "masters.other.k8s.", "Type": "A", "TTL": 30,
            "ResourceRecords": [{"Value": "10.0.2.10"}]}}]})

    with pytest.raises(ClientError, match="HostedZoneNotEmpty"):
        world.route53.delete_hosted_zone(Id=world.zone_id)

    deleted = dns_sync.delete_managed_records(world.zone_id, CLUSTER)

    assert deleted == ["masters.demo.k8s.", "minions.demo.k8s."]
    assert sorted(world.a_records()) == ["masters.other.k8s."]
    assert dns_sync.delete_managed_records(world.zone_id, CLUSTER) == []
    assert dns_sync.delete_managed_records(world.zone_id, "other") == ["masters.other.k8s."]
    world.route53.delete_hosted_zone(Id=world.zone_id)
    assert world.route53.list_hosted_zones()["HostedZones"] == []


def test_delete_managed_records_from_the_command_line(world: World, moto: MotoServer) -> None:
    masters = world.group(CLUSTER, "masters")
    new, _ = world.scale(masters, 1)
    invoke(launched(masters, new[0]))

    # What a destroy step runs: the file alone, as shipped, with only the environment's settings.
    result = subprocess.run(
        [sys.executable, str(HANDLER_FILE), "delete-managed-records",
         "--zone-id", world.zone_id, "--cluster", CLUSTER],
        env=aws_environment(moto.url), capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    logged = json.loads(result.stdout.splitlines()[-1])
    assert logged["records"] == ["masters.demo.k8s."]
    world.route53.delete_hosted_zone(Id=world.zone_id)


# settings and logs

def test_missing_settings_name_the_variables(world: World, monkeypatch) -> None:
    monkeypatch.delenv("ZONE_ID")
    monkeypatch.setenv("CLUSTER_NAME", " ")
    with pytest.raises(RuntimeError, match="ZONE_ID, CLUSTER_NAME"):
        invoke(scheduled())


def test_logs_are_json_lines(world: World, capsys) -> None:
    masters = world.group(CLUSTER, "masters")
    new, _ = world.scale(masters, 1)
    capsys.readouterr()

    invoke(launched(masters, new[0]))

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["message"] for line in lines] == [
        "event received", "record changed"]
    assert lines[0]["detail_type"] == dns_sync.LAUNCH_SUCCESSFUL
    assert lines[1]["record"] == "masters.demo.k8s."
    assert lines[1]["addresses"] == [world.address(new[0])]
    assert {line["level"] for line in lines} == {"INFO"}
