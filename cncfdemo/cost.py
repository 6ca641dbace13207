"""Hourly and monthly cost of a stack, from its resource graph.

The graph is the offline render (`cncfdemo.harness.run_program`): every resource the program
registers, with its inputs. Each resource is priced, listed as free (with the reason), or listed
as unpriced; none is dropped. A stack whose provider is not built has no graph: it is planned
from its settings instead, and says so.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cncfdemo import pricing, stackconfig
from cncfdemo.harness import Resource, Run
from cncfdemo.pricing import HOURS_PER_MONTH, Price, PriceBook, PricingError

GRAPH = "graph"
PLANNED = "planned"
BASIS_NOTES = {
    GRAPH: "estimate from the resource graph (offline render)",
    PLANNED: "planned from configuration, stack not built",
}

# what stacks/cluster.not_built says for every provider without a cluster (Equinix Metal's
# closure included); such a stack runs no further than its settings. The workflow greps for it.
NOT_BUILT = "create clusters today"

MACHINES = "machines"
DISKS = "disks and volumes"
LOAD_BALANCERS = "load balancers"
NAT_GATEWAYS = "NAT gateways"
ADDRESSES = "public addresses"
DNS_ZONES = "DNS zones"
CATEGORIES = (MACHINES, DISKS, LOAD_BALANCERS, NAT_GATEWAYS, ADDRESSES, DNS_ZONES)

AWS_LB_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"
AWS_LB_INTERNAL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-internal"


@dataclass(frozen=True)
class LineItem:
    category: str
    resource: str
    type: str
    what: str
    quantity: float
    unit: str
    price: Price

    @property
    def hourly(self) -> float:
        return self.price.hourly(self.quantity)

    @property
    def monthly(self) -> float:
        return self.hourly * HOURS_PER_MONTH

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category, "resource": self.resource, "type": self.type,
            "what": self.what, "quantity": self.quantity, "unit": self.unit,
            "price": self.price.as_dict(), "hourly": round(self.hourly, 6),
            "monthly": round(self.monthly, 4),
        }


@dataclass(frozen=True)
class Unpriced:
    resource: str
    type: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"resource": self.resource, "type": self.type, "reason": self.reason}


@dataclass(frozen=True)
class NodeGroup:
    role: str
    count: int
    machine_type: str

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "count": self.count, "machineType": self.machine_type}


@dataclass
class Estimate:
    stack: str
    provider: str
    region: str
    basis: str
    currency: str
    method: str
    items: list[LineItem] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)
    free: dict[str, list[str]] = field(default_factory=dict)
    node_groups: list[NodeGroup] = field(default_factory=list)

    @property
    def note(self) -> str:
        return BASIS_NOTES[self.basis]

    @property
    def hourly(self) -> float:
        return sum(item.hourly for item in self.items)

    @property
    def monthly(self) -> float:
        return self.hourly * HOURS_PER_MONTH

    @property
    def nodes(self) -> int:
        return sum(group.count for group in self.node_groups)

    def by_category(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for item in self.items:
            totals[item.category] += item.hourly
        return dict(totals)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack, "provider": self.provider, "region": self.region,
            "basis": self.basis, "note": self.note, "currency": self.currency,
            "hoursPerMonth": HOURS_PER_MONTH,
            "hourly": round(self.hourly, 6), "monthly": round(self.monthly, 4),
            "byCategory": {k: round(v, 6) for k, v in self.by_category().items()},
            "nodeGroups": [group.as_dict() for group in self.node_groups],
            "items": [item.as_dict() for item in self.items],
            "unpriced": [entry.as_dict() for entry in self.unpriced],
            "free": self.free,
            "pricing": self.method,
        }


# sizes ----------------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPE]i?|[kKMGTPE]?)$")
_FACTORS = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def storage_gib(quantity: str) -> float:
    """A Kubernetes storage quantity (`10Gi`, `500M`) in GiB, the unit disks are billed in."""
    match = _QUANTITY.match(str(quantity).strip())
    if not match:
        raise PricingError(f"cannot read the storage size {quantity!r}")
    return float(match.group(1)) * _FACTORS[match.group(2)] / 2**30


def _number(value: Any, default: float = 0) -> float:
    return default if value is None else float(value)


# pricing each kind of resource ----------------------------------------------------------------

class _Pricer:
    """Walks one run's resources and sorts every one into priced, free or unpriced."""

    def __init__(self, run: Run, book: PriceBook) -> None:
        self.run = run
        self.book = book
        self.by_urn = {r.urn: r for r in run.resources}
        self.items: list[LineItem] = []
        self.unpriced: list[Unpriced] = []
        self.free: dict[str, list[str]] = defaultdict(list)
        self.node_groups: list[NodeGroup] = []
        self.storage_classes = {
            (r.plain_inputs.get("metadata") or {}).get("name"): r.plain_inputs
            for r in run.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
        }

    def add(self, category: str, resource: Resource | str, what: str, quantity: float,
            unit: str, price: Price) -> None:
        name = resource if isinstance(resource, str) else resource.name
        type_ = "stack output nodeGroups" if isinstance(resource, str) else resource.type
        self.items.append(LineItem(category, name, type_, what, quantity, unit, price))

    def note(self, resource: Resource, reason: str) -> None:
        self.unpriced.append(Unpriced(resource.name, resource.type, reason))

    # machines

    def machines(self, resource: Resource, machine_type: str, count: int, role: str) -> None:
        self.node_groups.append(NodeGroup(role, count, machine_type))
        self.add(MACHINES, resource, machine_type, count, "machine",
                 self.book.machine(machine_type))

    def ebs_disks(self, resource: Resource, mappings: list[dict], count: int) -> bool:
        found = False
        for mapping in mappings or []:
            ebs = mapping.get("ebs") or {}
            if "volumeSize" not in ebs:
                continue
            size = _number(ebs["volumeSize"])
            volume_type = ebs.get("volumeType") or "gp2"
            self.add(DISKS, resource, f"{volume_type} {size:g} GB x {count}", size * count, "GB",
                     self.book.disk(volume_type))
            found = True
        return found

    def launch_template_of(self, group: Resource) -> Resource | None:
        inputs = group.plain_inputs
        spec = inputs.get("launchTemplate") or (
            (inputs.get("mixedInstancesPolicy") or {}).get("launchTemplate") or {}
        ).get("launchTemplateSpecification") or {}
        templates = [self.by_urn[urn] for urn in group.dependencies
                     if urn in self.by_urn
                     and self.by_urn[urn].type == "aws:ec2/launchTemplate:LaunchTemplate"]
        if len(templates) == 1:
            return templates[0]
        wanted = spec.get("name")
        for template in self.run.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
            if wanted and template.plain_inputs.get("name") == wanted:
                return template
        return None

    def aws_group(self, group: Resource) -> bool:
        inputs = group.plain_inputs
        count = int(_number(inputs.get("desiredCapacity"), _number(inputs.get("minSize"))))
        template = self.launch_template_of(group)
        if template is None:
            self.note(group, "its launch template is not in the graph, so its machine type "
                      "is unknown")
            return True
        spec = template.plain_inputs
        machine_type = spec.get("instanceType")
        if not machine_type:
            self.note(group, f"launch template {template.name} sets no instanceType")
            return True
        tags = {t.get("key"): t.get("value") for t in inputs.get("tags") or []}
        self.machines(group, machine_type, count, tags.get("Role") or group.name)
        if not self.ebs_disks(group, spec.get("blockDeviceMappings"), count):
            self.note(group, "its root volume size comes from the machine image: not counted")
        if self.gets_public_address(group, spec) and count:
            self.add(ADDRESSES, group, f"public IPv4 x {count}", count, "address",
                     self.book.single("public address"))
        return True

    def gets_public_address(self, group: Resource, template: dict) -> bool:
        """Its launch template asks for a public IPv4, or its subnets hand one out."""
        for interface in template.get("networkInterfaces") or []:
            if "associatePublicIpAddress" in interface:
                return interface["associatePublicIpAddress"] in (True, "true")
        subnets = [self.by_urn[urn] for urn in group.dependencies if urn in self.by_urn
                   and self.by_urn[urn].type == "aws:ec2/subnet:Subnet"]
        return any(s.plain_inputs.get("mapPublicIpOnLaunch") is True for s in subnets)

    def aws_instance(self, instance: Resource) -> bool:
        inputs = instance.plain_inputs
        self.machines(instance, inputs["instanceType"], 1, instance.name)
        root = inputs.get("rootBlockDevice") or {}
        if "volumeSize" in root:
            self.ebs_disks(instance, [{"ebs": root}], 1)
        else:
            self.note(instance, "its root volume size comes from the machine image: not counted")
        self.ebs_disks(instance, [{"ebs": d} for d in inputs.get("ebsBlockDevices") or []], 1)
        if inputs.get("associatePublicIpAddress") in (True, "true"):
            self.add(ADDRESSES, instance, "public IPv4", 1, "address",
                     self.book.single("public address"))
        return True

    def aws_volume(self, volume: Resource) -> bool:
        inputs = volume.plain_inputs
        size = _number(inputs.get("size"))
        volume_type = inputs.get("type") or "gp2"
        self.add(DISKS, volume, f"{volume_type} {size:g} GB", size, "GB",
                 self.book.disk(volume_type))
        return True

    def aws_load_balancer(self, balancer: Resource) -> bool:
        inputs = balancer.plain_inputs
        kind = inputs.get("loadBalancerType") or "application"
        self.add(LOAD_BALANCERS, balancer, f"{kind} load balancer", 1, "load balancer",
                 self.book.load_balancer(kind))
        # an internet-facing load balancer holds one public IPv4 address in each of its zones
        zones = len(inputs.get("subnets") or inputs.get("subnetMappings") or [])
        if not inputs.get("internal") and zones:
            self.add(ADDRESSES, balancer, f"public IPv4 x {zones} (one per zone)", zones,
                     "address", self.book.single("public address"))
        return True

    def nat_gateway(self, gateway: Resource) -> bool:
        self.add(NAT_GATEWAYS, gateway, "NAT gateway", 1, "gateway",
                 self.book.single("NAT gateway"))
        return True

    def public_address(self, address: Resource) -> bool:
        self.add(ADDRESSES, address, "public IPv4", 1, "address",
                 self.book.single("public address"))
        return True

    def dns_zone(self, zone: Resource) -> bool:
        self.add(DNS_ZONES, zone, "hosted zone", 1,
                 "zone", self.book.single("DNS zone"))
        return True

    # Kubernetes objects that become cloud resources

    def disk_type_of(self, storage_class: str | None) -> str:
        if storage_class is None:
            defaults = [name for name, spec in self.storage_classes.items()
                        if ((spec.get("metadata") or {}).get("annotations") or {}).get(
                            "storageclass.kubernetes.io/is-default-class") == "true"]
            storage_class = defaults[0] if defaults else None
        spec = self.storage_classes.get(storage_class) or {}
        disk_type = (spec.get("parameters") or {}).get("type") or self.book.default_disk_type
        if disk_type is None:
            raise PricingError(f"no {self.book.provider} disk type for storage class "
                               f"{storage_class!r} and no default disk type in "
                               f"{pricing.pricing_file(self.book.provider)}")
        return disk_type

    def claim(self, resource: Resource, claim: dict, replicas: int, label: str) -> None:
        spec = claim.get("spec") or {}
        request = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if request is None:
            self.note(resource, f"volume claim {label} requests no storage size")
            return
        size = storage_gib(request)
        disk_type = self.disk_type_of(spec.get("storageClassName"))
        what = f"{disk_type} {size:g} GB x {replicas} ({label})"
        self.add(DISKS, resource, what, size * replicas, "GB", self.book.disk(disk_type))

    def stateful_set(self, resource: Resource) -> bool:
        spec = resource.plain_inputs.get("spec") or {}
        templates = spec.get("volumeClaimTemplates") or []
        replicas = int(_number(spec.get("replicas"), 1))
        for template in templates:
            name = (template.get("metadata") or {}).get("name", "volume")
            self.claim(resource, template, replicas, name)
        return bool(templates)

    def persistent_volume_claim(self, resource: Resource) -> bool:
        inputs = resource.plain_inputs
        name = (inputs.get("metadata") or {}).get("name", resource.name)
        self.claim(resource, inputs, 1, name)
        return True

    def service(self, resource: Resource) -> bool:
        inputs = resource.plain_inputs
        if (inputs.get("spec") or {}).get("type") != "LoadBalancer":
            return False
        kind = self.book.service_load_balancer
        annotations = (inputs.get("metadata") or {}).get("annotations") or {}
        if self.book.provider == "aws" and annotations.get(AWS_LB_TYPE_ANNOTATION) in (
                "nlb", "external"):
            kind = "network"
        if kind is None:
            self.note(resource, f"a LoadBalancer Service, but {self.book.provider} has no "
                      "load balancer price")
            return True
        name = (inputs.get("metadata") or {}).get("name", resource.name)
        self.add(LOAD_BALANCERS, resource, f"{kind} load balancer (Service {name})", 1,
                 "load balancer", self.book.load_balancer(kind))
        zones = self.aws_service_zones(annotations) if self.book.provider == "aws" else 0
        if zones:
            self.add(ADDRESSES, resource, f"public IPv4 x {zones} (one per zone)", zones,
                     "address", self.book.single("public address"))
        return True

    def aws_service_zones(self, annotations: dict) -> int:
        """The zones an internet-facing Service load balancer takes an address in: the cloud
        controller places it in the subnets tagged for public load balancers."""
        if annotations.get(AWS_LB_INTERNAL_ANNOTATION) in ("true", "0.0.0.0/0"):
            return 0
        return sum(1 for subnet in self.run.of_type("aws:ec2/subnet:Subnet")
                   if (subnet.plain_inputs.get("tags") or {}).get("kubernetes.io/role/elb")
                   == "1")

    # the rest

    def classify(self, resource: Resource) -> None:
        type_ = resource.type
        if not resource.custom:
            self.free["components (groupings of other resources)"].append(resource.name)
        elif type_.startswith("pulumi:providers:"):
            self.free["providers"].append(resource.name)
        elif type_.split(":")[0] in ("random", "tls"):
            self.free["generated values (random, tls)"].append(resource.name)
        elif type_.startswith("command:"):
            self.free["commands run where pulumi runs"].append(resource.name)
        elif type_.startswith("kubernetes:helm.sh/"):
            self.note(resource, "a Helm release's objects are not in the graph; LoadBalancer "
                      "Services or volumes it makes are not counted")
        elif type_.startswith("kubernetes:"):
            self.free["Kubernetes objects (run on the nodes)"].append(resource.name)
        elif type_ in self.book.free_types:
            self.free[self.book.free_types[type_]].append(resource.name)
        elif type_ in self.book.usage_based:
            self.note(resource, "usage-based: " + self.book.usage_based[type_])
        else:
            self.note(resource, f"no price rule for {type_}")

    HANDLERS = {
        "aws:autoscaling/group:Group": aws_group,
        "aws:ec2/instance:Instance": aws_instance,
        "aws:ebs/volume:Volume": aws_volume,
        "aws:lb/loadBalancer:LoadBalancer": aws_load_balancer,
        "aws:ec2/natGateway:NatGateway": nat_gateway,
        "aws:ec2/eip:Eip": public_address,
        "aws:route53/zone:Zone": dns_zone,
        "kubernetes:apps/v1:StatefulSet": stateful_set,
        "kubernetes:core/v1:PersistentVolumeClaim": persistent_volume_claim,
        "kubernetes:core/v1:Service": service,
    }

    def local_nodes(self) -> None:
        """kind nodes are containers a command starts: they come from the nodeGroups output."""
        for group in self.run.outputs.get("nodeGroups") or []:
            count = int(group["count"])
            self.node_groups.append(NodeGroup(group["role"], count, group["machineType"]))
            self.add(MACHINES, f"{group['role']} (kind nodes)", group["machineType"], count,
                     "machine", self.book.machine(group["machineType"]))

    def price(self) -> None:
        for resource in self.run.resources:
            handler = self.HANDLERS.get(resource.type)
            if handler is None or not handler(self, resource):
                self.classify(resource)
        if self.book.provider == "local":
            self.local_nodes()


def from_run(run: Run, book: PriceBook) -> Estimate:
    """The estimate of a recorded run, priced from `book`."""
    pricer = _Pricer(run, book)
    pricer.price()
    return Estimate(
        stack=run.stack, provider=book.provider, region=book.region, basis=GRAPH,
        currency=book.currency, method=book.method, items=pricer.items,
        unpriced=pricer.unpriced, free={k: sorted(v) for k, v in sorted(pricer.free.items())},
        node_groups=sorted(pricer.node_groups, key=lambda group: group.role),
    )


# planned from configuration -------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedStack:
    """What a stack's settings say about its nodes, when no graph exists to read them from."""

    stack: str
    provider: str
    region: str
    node_groups: tuple[NodeGroup, ...]


def planned_stack(stack: str, project_dir: Path = stackconfig.PROJECT_ROOT,
                  overrides: dict[str, Any] | None = None) -> PlannedStack:
    config = stackconfig.load(stack, project_dir)
    values = {**config.values, **{k: str(v) for k, v in (overrides or {}).items()}}
    stack_file = f"Pulumi.{stack}.yaml"

    def setting(key: str) -> str:
        value = values.get(f"cncfdemo:{key}")
        if not value:
            raise PricingError(f"{stack_file} does not set cncfdemo:{key}, so the stack cannot "
                               f"be planned. Set it with `pulumi config set cncfdemo:{key} ...`.")
        return value

    provider = setting("provider")
    key, default_region = pricing.region_key(provider)
    region = values.get(key) if key else default_region
    if not region:
        raise PricingError(f"{stack_file} does not set {key}, so its prices are unknown. Set it "
                           f"with `pulumi config set {key} <region>`.")
    groups = (
        NodeGroup("masters", int(float(setting("masterCount"))), setting("masterSize")),
        NodeGroup("minions", int(float(setting("minionCount"))), setting("minionSize")),
    )
    return PlannedStack(stack, provider, region, groups)


def from_settings(planned: PlannedStack, book: PriceBook) -> Estimate:
    estimate = Estimate(
        stack=planned.stack, provider=planned.provider, region=planned.region, basis=PLANNED,
        currency=book.currency, method=book.method, node_groups=list(planned.node_groups),
    )
    for group in planned.node_groups:
        estimate.items.append(LineItem(
            MACHINES, f"{group.role} (planned)",
            "stack configuration", group.machine_type, group.count, "machine",
            book.machine(group.machine_type)))
    estimate.unpriced.append(Unpriced(
        "everything but the nodes", "stack configuration",
        "load balancers, disks, addresses and DNS come from the stack's resources, which do not "
        "exist until its provider is built"))
    return estimate


# one stack, end to end ------------------------------------------------------------------------

def estimate_stack(stack: str, project_dir: Path = stackconfig.PROJECT_ROOT,
                   overrides: dict[str, Any] | None = None,
                   refresh: Any = None) -> Estimate:
    """Run the program offline for `stack` and price it; plan it if its provider is not built.

    `overrides` are full config keys (`cncfdemo:minionCount`). `refresh(book, machine_types)`
    returns a PriceBook with fresher prices (see cncfdemo.pricing.refresh).
    """
    from cncfdemo import harness

    try:
        run = harness.run_program(stack, project_dir, overrides)
    except harness.ProgramError as err:
        if NOT_BUILT not in str(err):
            raise
        planned = planned_stack(stack, project_dir, overrides)
        book = pricing.load(planned.provider, planned.region)
        if refresh is not None:
            book = refresh(book, {g.machine_type for g in planned.node_groups})
        return from_settings(planned, book)

    provider = run.outputs.get("provider")
    region = run.outputs.get("region")
    book = pricing.load(provider, region)
    if refresh is not None:
        wanted = {g.get("machineType") for g in run.outputs.get("nodeGroups") or []}
        book = refresh(book, {t for t in wanted if t})
    return from_run(run, book)


# text -----------------------------------------------------------------------------------------

def money(amount: float, currency: str = "USD", places: int = 2) -> str:
    symbol = "$" if currency == "USD" else currency + " "
    return f"{symbol}{amount:,.{places}f}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def format_text(estimate: Estimate) -> str:
    c = estimate.currency
    lines = [
        f"{estimate.stack}: {estimate.provider} {estimate.region}, {estimate.note}",
        "",
        f"  {'category':<17} {'what':<36} {'resource':<32} {'per hour':>9} {'per month':>10}",
    ]
    for item in sorted(estimate.items, key=lambda i: (CATEGORIES.index(i.category), i.resource)):
        what = item.what if item.category != MACHINES else f"{item.quantity:g} x {item.what}"
        lines.append(f"  {item.category:<17} {_cut(what, 36):<36} {_cut(item.resource, 32):<32} "
                     f"{money(item.hourly, c, 4):>9} {money(item.monthly, c):>10}")
    lines.append(f"  {'total':<17} {'':<36} {'':<32} {money(estimate.hourly, c, 4):>9} "
                 f"{money(estimate.monthly, c):>10}")
    lines.append(f"  (a month is {HOURS_PER_MONTH} hours; usage-based charges such as load "
                 "balancer capacity units, NAT data and DNS queries are not included)")
    if estimate.unpriced:
        lines += ["", f"Unpriced ({len(estimate.unpriced)}, not in the total):"]
        lines += [f"  {u.resource} ({u.type}): {u.reason}" for u in estimate.unpriced]
    if estimate.free:
        lines += ["", "Free (no charge of their own):"]
        lines += [f"  {category}: {len(names)}" for category, names in estimate.free.items()]
    sources = sorted({(i.price.source, i.price.taken) for i in estimate.items})
    lines += ["", "Prices: " + estimate.method]
    lines += [f"  {source} (taken {taken})" for source, taken in sources]
    return "\n".join(lines) + "\n"
