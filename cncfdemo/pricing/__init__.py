"""Prices kept in the repository, one file per provider, every price with its source and date.

    <provider>.json   regions -> machines, disks, loadBalancers, natGateway, publicAddress,
                      dnsZone; each price is {"price", "per", "source", "taken"}

`per` is "hour", "month" or "GB-month"; a month is 730 hours, as the providers bill it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PRICING_DIR = Path(__file__).resolve().parent
HOURS_PER_MONTH = 730
PER_UNITS = ("hour", "month", "GB-month")

# A price that applies to every name of its kind (the local stack's kind nodes).
ANY = "*"


class PricingError(Exception):
    """No price for what the stack uses; the message names it and says where prices live."""


@dataclass(frozen=True)
class Price:
    amount: float
    per: str
    source: str
    taken: str

    def __post_init__(self) -> None:
        if self.per not in PER_UNITS:
            raise ValueError(f"price per {self.per!r}: must be one of {', '.join(PER_UNITS)}")

    def hourly(self, quantity: float = 1.0) -> float:
        """What `quantity` of it (machines, or GB for a GB-month price) costs per hour."""
        if self.per == "hour":
            return self.amount * quantity
        return self.amount * quantity / HOURS_PER_MONTH

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Price:
        return cls(float(raw["price"]), raw["per"], raw["source"], raw["taken"])

    def as_dict(self) -> dict[str, Any]:
        return {"price": self.amount, "per": self.per, "source": self.source, "taken": self.taken}


@dataclass(frozen=True)
class PriceBook:
    """One provider's prices in one region, and how it classifies what it does not price."""

    provider: str
    region: str
    currency: str
    method: str
    machines: dict[str, Price]
    disks: dict[str, Price]
    load_balancers: dict[str, Price]
    nat_gateway: Price | None
    public_address: Price | None
    dns_zone: Price | None
    default_disk_type: str | None
    service_load_balancer: str | None
    free_types: dict[str, str] = field(default_factory=dict)
    usage_based: dict[str, str] = field(default_factory=dict)

    def _where(self) -> str:
        return f"{self.provider} {self.region}"

    def machine(self, machine_type: str) -> Price:
        price = self.machines.get(machine_type) or self.machines.get(ANY)
        if price is None:
            known = ", ".join(sorted(self.machines))
            raise PricingError(
                f"unknown machine type {machine_type!r}: no {self._where()} price for it "
                f"(priced: {known}). Add it to {pricing_file(self.provider)} or run with "
                "--refresh-prices.")
        return price

    def disk(self, disk_type: str) -> Price:
        price = self.disks.get(disk_type) or self.disks.get(ANY)
        if price is None:
            known = ", ".join(sorted(self.disks)) or "none"
            raise PricingError(
                f"unknown disk type {disk_type!r}: no {self._where()} price for it "
                f"(priced: {known}). Add it to {pricing_file(self.provider)}.")
        return price

    def load_balancer(self, kind: str) -> Price:
        price = self.load_balancers.get(kind)
        if price is None:
            known = ", ".join(sorted(self.load_balancers)) or "none"
            raise PricingError(
                f"unknown load balancer kind {kind!r}: no {self._where()} price for it "
                f"(priced: {known}). Add it to {pricing_file(self.provider)}.")
        return price

    def single(self, what: str) -> Price:
        """The NAT gateway, public address or DNS zone price; an error if the file lacks it."""
        price = {"NAT gateway": self.nat_gateway, "public address": self.public_address,
                 "DNS zone": self.dns_zone}[what]
        if price is None:
            raise PricingError(f"no {self._where()} price for a {what}. Add it to "
                               f"{pricing_file(self.provider)}.")
        return price

    def with_prices(self, **changes: Any) -> PriceBook:
        return replace(self, **changes)


def pricing_file(provider: str, directory: Path = PRICING_DIR) -> Path:
    return directory / f"{provider}.json"


def load_file(provider: str, directory: Path = PRICING_DIR) -> dict[str, Any]:
    path = pricing_file(provider, directory)
    if not path.exists():
        raise PricingError(f"no prices for provider {provider!r}: {path} does not exist.")
    return json.loads(path.read_text())


def region_key(provider: str, directory: Path = PRICING_DIR) -> tuple[str | None, str | None]:
    """The config key naming the region (`aws:region`), and the region when there is none."""
    data = load_file(provider, directory)
    return data.get("regionKey"), data.get("defaultRegion")


def load(provider: str, region: str, directory: Path = PRICING_DIR) -> PriceBook:
    data = load_file(provider, directory)
    regions = data["regions"]
    if region not in regions:
        raise PricingError(
            f"unknown region {region!r}: {pricing_file(provider, directory).name} has no "
            f"{provider} prices for it (priced regions: {', '.join(sorted(regions))}). Add the "
            "region's prices to that file, or run with --refresh-prices where the provider "
            "publishes them.")
    prices = regions[region]

    def table(name: str) -> dict[str, Price]:
        return {key: Price.parse(raw) for key, raw in (prices.get(name) or {}).items()}

    def one(name: str) -> Price | None:
        return Price.parse(prices[name]) if name in prices else None

    defaults = data.get("defaults") or {}
    return PriceBook(
        provider=provider,
        region=region,
        currency=data["currency"],
        method=data["method"],
        machines=table("machines"),
        disks=table("disks"),
        load_balancers=table("loadBalancers"),
        nat_gateway=one("natGateway"),
        public_address=one("publicAddress"),
        dns_zone=one("dnsZone"),
        default_disk_type=defaults.get("diskType"),
        service_load_balancer=defaults.get("serviceLoadBalancer"),
        free_types=dict(data.get("freeTypes") or {}),
        usage_based=dict(data.get("usageBased") or {}),
    )
