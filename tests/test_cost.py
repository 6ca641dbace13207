"""`cncfdemo cost`: every stack at its defaults against a figure computed by hand, changes that
must move the figure, and nothing in the graph left out of the account."""

from __future__ import annotations

import datetime
import json
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from cncfdemo import cost, pricing
from cncfdemo.cli import main
from cncfdemo.harness import Resource, Run
from cncfdemo.pricing import HOURS_PER_MONTH, PricingError
from cncfdemo.pricing import refresh as price_refresh
from stacks.cluster import not_built

FIXTURES = Path(__file__).parent / "fixtures" / "pricing"
STACKS = ("aws-demo", "azure-demo", "gcp-demo", "equinix-demo", "local-demo")


def aws_book():
    return pricing.load("aws", "us-east-1")


def estimate(program_run, stack: str, **overrides) -> cost.Estimate:
    run = program_run(stack, **overrides)
    return cost.from_run(run, pricing.load(run.outputs["provider"], run.outputs["region"]))


# the figures, computed by hand -------------------------------------------------------------

# aws-demo in us-east-1 (prices from cncfdemo/pricing/aws.json):
#   machines    1 x t3.medium 0.0416 + 3 x t3.large 0.0832                     = 0.2912 /h
#   the API's network load balancer                                              = 0.0225 /h
#   2 LoadBalancer Services (Countly, Grafana): classic load balancers, 0.025   = 0.0500 /h
#   public IPv4 at 0.005 /h: 4 nodes (public subnets) + 2 zones x 3 balancers   = 0.0500 /h
#   disks at 0.08 per GB-month (gp3):                                           = 15.68 /month
#     4 nodes x 30 GB                                                    120 GB
#     MongoDB config servers 3 x 2 GB, 2 shards x 3 members x 10 GB       66 GB
#     Prometheus 1 x 10 GB                                                10 GB
#   the private DNS zone k8s                                                    = 0.50 /month
AWS_HOURLY = 0.0416 + 3 * 0.0832 + 0.0225 + 2 * 0.025 + (4 + 2 * 3) * 0.005
AWS_MONTHLY_FIXED = (4 * 30 + 3 * 2 + 2 * 3 * 10 + 10) * 0.08 + 0.50
AWS_MONTHLY = AWS_HOURLY * 730 + AWS_MONTHLY_FIXED  # 318.18


def test_aws_demo_at_its_defaults_matches_the_figure_by_hand(program_run):
    result = estimate(program_run, "aws-demo")
    assert result.basis == cost.GRAPH
    assert result.monthly == pytest.approx(AWS_MONTHLY, abs=1e-6)
    assert result.monthly == pytest.approx(318.18, abs=0.005)
    assert result.hourly == pytest.approx(AWS_HOURLY + AWS_MONTHLY_FIXED / 730, abs=1e-9)
    machines = sorted((i.what, i.quantity) for i in result.items if i.category == cost.MACHINES)
    assert machines == [("t3.large", 3), ("t3.medium", 1)]
    assert [(g.role, g.count, g.machine_type) for g in result.node_groups] == [
        ("masters", 1, "t3.medium"), ("minions", 3, "t3.large")]


def test_more_minions_add_exactly_their_machines_disks_and_addresses(program_run):
    base = estimate(program_run, "aws-demo")
    more = estimate(program_run, "aws-demo", minionCount="5")
    per_minion_hourly = 0.0832 + 0.005 + 30 * 0.08 / HOURS_PER_MONTH
    assert more.hourly - base.hourly == pytest.approx(2 * per_minion_hourly, abs=1e-9)
    assert more.nodes == 6


def test_a_bigger_machine_type_changes_only_the_machines(program_run):
    base = estimate(program_run, "aws-demo")
    bigger = estimate(program_run, "aws-demo", minionSize="m5.xlarge")
    assert bigger.hourly - base.hourly == pytest.approx(3 * (0.192 - 0.0832), abs=1e-9)
    assert bigger.by_category()[cost.DISKS] == pytest.approx(base.by_category()[cost.DISKS])


def test_another_region_uses_its_own_prices(program_run):
    ireland = estimate(program_run, "aws-demo", **{"aws:region": "eu-west-1"})
    assert ireland.region == "eu-west-1"
    machines = ireland.by_category()[cost.MACHINES]
    assert machines == pytest.approx(0.0456 + 3 * 0.0912, abs=1e-9)


def test_an_unknown_machine_type_is_an_error_naming_it(program_run):
    run = program_run("aws-demo", minionSize="x9.gigantic")
    with pytest.raises(PricingError, match=r"unknown machine type 'x9.gigantic'.*us-east-1"):
        cost.from_run(run, aws_book())


def test_an_unknown_region_is_an_error_naming_it():
    with pytest.raises(PricingError, match=r"unknown region 'ap-nowhere-9'.*aws.json"):
        pricing.load("aws", "ap-nowhere-9")


def test_every_resource_is_priced_free_or_listed_as_unpriced(program_run):
    run = program_run("aws-demo")
    result = estimate(program_run, "aws-demo")
    accounted = ({i.resource for i in result.items} | {u.resource for u in result.unpriced}
                 | {name for names in result.free.values() for name in names})
    assert {r.name for r in run.resources} <= accounted
    unpriced = {(u.type, u.reason.split(":")[0]) for u in result.unpriced}
    assert ("aws:lambda/function:Function", "usage-based") in unpriced
    assert ("aws:cloudwatch/logGroup:LogGroup", "usage-based") in unpriced
    assert "providers" in result.free and "Kubernetes objects (run on the nodes)" in result.free


def test_the_local_stack_is_free_and_counts_its_kind_nodes(program_run):
    result = estimate(program_run, "local-demo")
    assert (result.provider, result.hourly, result.monthly) == ("local", 0, 0)
    assert result.nodes == 3
    assert estimate(program_run, "local-demo", minionCount="4").nodes == 5


# stacks that are not built are planned, and say so ---------------------------------------------

def test_every_unbuilt_provider_is_recognised_as_planned():
    """The stop of an unbuilt provider is told apart from a broken program by its words."""
    for provider in ("azure", "gcp", "equinix"):
        assert cost.NOT_BUILT in str(not_built(provider)), provider


@pytest.mark.parametrize(("stack", "hourly"), [
    # 1 x Standard_B2s 0.0416 + 3 x Standard_D2s_v5 0.096, eastus
    ("azure-demo", 0.0416 + 3 * 0.096),
    # 1 x e2-medium 0.033503 + 3 x e2-standard-2 0.067006, us-central1
    ("gcp-demo", 0.033503 + 3 * 0.067006),
    # 1 + 2 x c3.small.x86 at Equinix Metal's last published 0.75
    ("equinix-demo", 3 * 0.75),
])
def test_unbuilt_stacks_are_planned_from_their_settings(stack, hourly):
    result = cost.estimate_stack(stack)
    assert result.basis == cost.PLANNED
    assert result.hourly == pytest.approx(hourly, abs=1e-9)
    assert result.monthly == pytest.approx(hourly * 730, abs=1e-6)
    assert "planned from configuration, stack not built" in cost.format_text(result)
    assert result.as_dict()["note"] == "planned from configuration, stack not built"
    assert result.unpriced and "do not exist until" in result.unpriced[0].reason


def test_a_planned_stack_follows_its_settings():
    bigger = cost.estimate_stack("gcp-demo", overrides={"cncfdemo:minionCount": "6"})
    assert bigger.hourly == pytest.approx(0.033503 + 6 * 0.067006, abs=1e-9)


def test_equinix_keeps_its_last_prices_with_the_closure_noted():
    result = cost.estimate_stack("equinix-demo")
    assert "stopped operating on 30 June 2026" in result.method


def test_every_price_names_its_source_and_date():
    for path in sorted(pricing.PRICING_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        for region, tables in data["regions"].items():
            for name, entry in tables.items():
                prices = entry.values() if "price" not in entry else [entry]
                for price in prices:
                    assert price["source"].startswith("https://"), (path.name, region, name)
                    assert len(price["taken"]) == 10, (path.name, region, name)
                    pricing.Price.parse(price)


# Kubernetes objects that become cloud resources -----------------------------------------------

def _resource(type_: str, name: str, inputs: dict) -> Resource:
    return Resource(urn=f"urn:pulumi:t::p::{type_}::{name}", type=type_, name=name, parent="",
                    custom=True, dependencies=[], provider="", inputs=inputs)


def test_claim_templates_and_load_balancer_services_are_priced():
    run = Run(stack="t", outputs={}, secret_outputs=set(), secret_values=set(), resources=[
        _resource("kubernetes:storage.k8s.io/v1:StorageClass", "sc", {
            "metadata": {"name": "fast"}, "parameters": {"type": "io1"}}),
        _resource("kubernetes:apps/v1:StatefulSet", "mongo", {"spec": {
            "replicas": 3.0, "volumeClaimTemplates": [
                {"metadata": {"name": "data"}, "spec": {
                    "resources": {"requests": {"storage": "20Gi"}}}},
                {"metadata": {"name": "journal"}, "spec": {"storageClassName": "fast",
                 "resources": {"requests": {"storage": "2048Mi"}}}}]}}),
        _resource("kubernetes:core/v1:PersistentVolumeClaim", "prom", {
            "metadata": {"name": "prometheus"},
            "spec": {"resources": {"requests": {"storage": "50Gi"}}}}),
        _resource("kubernetes:core/v1:Service", "countly", {
            "metadata": {"name": "countly"}, "spec": {"type": "LoadBalancer"}}),
        _resource("kubernetes:core/v1:Service", "grafana", {
            "metadata": {"name": "grafana", "annotations": {
                "service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}},
            "spec": {"type": "LoadBalancer"}}),
        _resource("kubernetes:core/v1:Service", "internal", {"spec": {"type": "ClusterIP"}}),
    ])
    result = cost.from_run(run, aws_book())
    disks = {i.what: i.quantity for i in result.items if i.category == cost.DISKS}
    assert disks == {"gp3 20 GB x 3 (data)": 60, "io1 2 GB x 3 (journal)": 6,
                     "gp3 50 GB x 1 (prometheus)": 50}
    balancers = sorted(i.price.amount for i in result.items if i.category == cost.LOAD_BALANCERS)
    assert balancers == [0.0225, 0.025]  # the NLB by annotation, else a classic one
    assert result.monthly == pytest.approx(110 * 0.08 + 6 * 0.125 + (0.0225 + 0.025) * 730)
    assert result.free == {"Kubernetes objects (run on the nodes)": ["internal", "sc"]}


# us-east-1 (cncfdemo/pricing/aws.json):
#   NAT gateway 0.045 /h; Elastic IP 0.005 /h
#   bastion: t3.small 0.0208 /h, a public IPv4 0.005 /h, root gp3 20 GB at 0.08 and an io1
#     100 GB data disk at 0.125 per GB-month                    = 1.60 + 12.50 /month
#   worker: t3.medium 0.0416 /h; its root disk is sized by its image, so it is not counted
#   volumes: st1 500 GB at 0.045, and 50 GB of the default gp2 at 0.10  = 22.50 + 5.00 /month
NETWORK_AND_EC2_HOURLY = 0.045 + 0.005 + 0.0208 + 0.005 + 0.0416
NETWORK_AND_EC2_MONTHLY_FIXED = 20 * 0.08 + 100 * 0.125 + 500 * 0.045 + 50 * 0.10


def test_nat_gateways_addresses_instances_and_volumes_are_priced():
    run = Run(stack="t", outputs={}, secret_outputs=set(), secret_values=set(), resources=[
        _resource("aws:ec2/natGateway:NatGateway", "nat", {
            "allocationId": "eipalloc-0", "subnetId": "subnet-0"}),
        _resource("aws:ec2/eip:Eip", "nat-address", {"domain": "vpc"}),
        _resource("aws:ec2/instance:Instance", "bastion", {
            "instanceType": "t3.small", "associatePublicIpAddress": True,
            "rootBlockDevice": {"volumeSize": 20.0, "volumeType": "gp3"},
            "ebsBlockDevices": [{"deviceName": "/dev/sdf", "volumeSize": 100.0,
                                 "volumeType": "io1"}]}),
        _resource("aws:ec2/instance:Instance", "worker", {"instanceType": "t3.medium"}),
        _resource("aws:ebs/volume:Volume", "archive", {
            "availabilityZone": "us-east-1a", "size": 500.0, "type": "st1"}),
        _resource("aws:ebs/volume:Volume", "scratch", {
            "availabilityZone": "us-east-1a", "size": 50.0}),
    ])
    result = cost.from_run(run, aws_book())
    assert sorted((i.category, i.resource, i.what, i.quantity, i.price.amount)
                  for i in result.items) == sorted([
        (cost.ADDRESSES, "bastion", "public IPv4", 1, 0.005),
        (cost.ADDRESSES, "nat-address", "public IPv4", 1, 0.005),
        (cost.DISKS, "archive", "st1 500 GB", 500, 0.045),
        (cost.DISKS, "bastion", "gp3 20 GB x 1", 20, 0.08),
        (cost.DISKS, "bastion", "io1 100 GB x 1", 100, 0.125),
        (cost.DISKS, "scratch", "gp2 50 GB", 50, 0.10),
        (cost.MACHINES, "bastion", "t3.small", 1, 0.0208),
        (cost.MACHINES, "worker", "t3.medium", 1, 0.0416),
        (cost.NAT_GATEWAYS, "nat", "NAT gateway", 1, 0.045),
    ])
    assert result.by_category()[cost.NAT_GATEWAYS] == pytest.approx(0.045)
    assert result.by_category()[cost.ADDRESSES] == pytest.approx(2 * 0.005)
    assert result.by_category()[cost.DISKS] * HOURS_PER_MONTH == pytest.approx(41.6)
    assert result.monthly == pytest.approx(
        NETWORK_AND_EC2_HOURLY * 730 + NETWORK_AND_EC2_MONTHLY_FIXED)  # 127.302
    assert result.monthly == pytest.approx(127.302, abs=1e-9)
    assert [(u.resource, u.reason) for u in result.unpriced] == [
        ("worker", "its root volume size comes from the machine image: not counted")]


def test_storage_sizes_read_like_kubernetes():
    assert cost.storage_gib("10Gi") == 10
    assert cost.storage_gib("512Mi") == 0.5
    assert cost.storage_gib("1Ti") == 1024
    assert cost.storage_gib("1G") == pytest.approx(1e9 / 2**30)
    with pytest.raises(PricingError, match="10 gigs"):
        cost.storage_gib("10 gigs")


# the command -------------------------------------------------------------------------------

def test_the_command_prints_text_and_json():
    runner = CliRunner()
    text = runner.invoke(main, ["cost", "--stack", "aws-demo"])
    assert text.exit_code == 0, text.output
    assert "estimate from the resource graph" in text.output
    assert "$318.18" in text.output
    assert "aws-demo-dns-function (aws:lambda/function:Function): usage-based" in text.output

    as_json = runner.invoke(main, ["cost", "--stack", "azure-demo", "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert (data["basis"], data["note"]) == ("planned", "planned from configuration, stack not "
                                             "built")
    assert data["hoursPerMonth"] == 730 and data["monthly"] == pytest.approx(240.608)


def test_the_refresh_prices_flag_prices_from_the_fetched_lists(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the test reached for the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(price_refresh, "fetch_url", _served(_aws_files(tmp_path)))
    done = CliRunner().invoke(main, ["cost", "--stack", "aws-demo", "--refresh-prices", "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    machines = {i["what"]: i["price"] for i in data["items"] if i["category"] == cost.MACHINES}
    assert (machines["t3.medium"]["price"], machines["t3.large"]["price"]) == (0.0418, 0.0835)
    assert machines["t3.large"]["source"].endswith("/AmazonEC2/20261101000000/us-east-1/index.json")
    assert machines["t3.large"]["taken"] == datetime.date.today().isoformat()
    # aws-demo's figure by hand (above) at the served prices: machines 0.0418 + 3 x 0.0835,
    # the NLB 0.023, two classic 0.026, ten addresses 0.005; 196 GB of gp3 at 0.081 and the
    # zone's 0.50 a month
    hourly = 0.0418 + 3 * 0.0835 + 0.023 + 2 * 0.026 + 10 * 0.005
    assert data["monthly"] == pytest.approx(hourly * 730 + 196 * 0.081 + 0.50, abs=1e-4)
    assert data["monthly"] != pytest.approx(AWS_MONTHLY, abs=1)


def test_the_command_names_an_unknown_stack():
    result = CliRunner().invoke(main, ["cost", "--stack", "mars-demo"])
    assert result.exit_code == 1
    assert "no stack 'mars-demo'" in result.output


# refreshing prices (parsers checked on small files in the documented formats; no network) --

def _served(files: dict[str, str]):
    """A fetch that answers these URLs with these fixture files, and refuses anything else."""
    def fetch(url: str) -> bytes:
        if url not in files:
            raise PricingError(f"unexpected fetch {url}")
        return (FIXTURES / files[url]).read_bytes()
    return fetch


def _aws_files(tmp_path: Path) -> dict[str, str]:
    base = price_refresh.AWS_PRICING + "/offers/v1.0/aws"
    files = {f"{base}/AmazonRoute53/current/index.json": "aws-AmazonRoute53.json"}
    for offer in ("AmazonEC2", "AWSELB", "AmazonVPC"):
        index = tmp_path / f"{offer}-region-index.json"
        version = f"/offers/v1.0/aws/{offer}/20261101000000/us-east-1/index.json"
        index.write_text(json.dumps({"formatVersion": "v1.0", "regions": {"us-east-1": {
            "regionCode": "us-east-1", "currentVersionUrl": version}}}))
        files[f"{base}/{offer}/current/region_index.json"] = str(index)
        files[price_refresh.AWS_PRICING + version] = f"aws-{offer}-us-east-1.json"
    return files


def test_aws_offer_files_refresh_the_prices(tmp_path):
    book = price_refresh.refresh(aws_book(), {"t3.large"}, fetch=_served(_aws_files(tmp_path)),
                                 taken="2026-12-24")
    large = book.machine("t3.large")
    assert (large.amount, large.taken) == (0.0835, "2026-12-24")
    assert large.source.endswith("/AmazonEC2/20261101000000/us-east-1/index.json")
    assert book.machine("t3.medium").amount == 0.0418
    assert book.machine("t3.small").amount == 0.0208  # not in the list: kept from the repo
    assert book.disk("gp3").amount == 0.081
    assert book.load_balancer("network").amount == 0.023
    assert book.load_balancer("classic").amount == 0.026
    assert book.single("NAT gateway").amount == 0.046
    assert book.single("public address").amount == 0.005
    assert (book.single("DNS zone").amount, book.single("DNS zone").per) == (0.5, "month")


def test_azure_retail_prices_refresh_linux_pay_as_you_go_machines():
    offline = pricing.load("azure", "eastus")
    # the query asks for the stack's sizes and every size the repository prices
    first = price_refresh.azure_machine_query("eastus", set(offline.machines) | {"Standard_B8s"})
    assert "armSkuName+eq+%27Standard_B8s%27" in first
    fetch = _served({first: "azure-retail-page1.json",
                     "https://prices.azure.com/api/retail/prices?page=2":
                     "azure-retail-page2.json"})
    book = price_refresh.refresh(offline, {"Standard_B8s"}, fetch=fetch, taken="2026-12-24")
    assert book.machine("Standard_D2s_v5").amount == 0.097  # not Windows, not Spot
    assert book.machine("Standard_B2s").amount == 0.042  # not Low Priority, not a reservation
    assert book.machine("Standard_B2s").source == first


def test_providers_without_a_public_price_list_say_so():
    with pytest.raises(PricingError, match="gcp publishes no price list"):
        price_refresh.refresh(pricing.load("gcp", "us-central1"), set(), fetch=_served({}))


def test_every_stack_has_an_estimate():
    for stack in STACKS:
        result = cost.estimate_stack(stack)
        assert result.monthly >= 0 and result.currency == "USD", stack
