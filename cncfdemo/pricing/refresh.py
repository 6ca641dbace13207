"""Fresher prices from the providers' public price lists, where they need no credentials.

- AWS: the Price List Bulk API's offer files (JSON), one per service and region, from
  pricing.us-east-1.amazonaws.com. The EC2 file of a large region is hundreds of megabytes.
- Azure: the Retail Prices API (prices.azure.com), paged JSON; only machine prices are read.
- GCP's Cloud Billing Catalog API needs an API key and Equinix Metal is closed: neither refreshes.

A refreshed price names the file or query it came from and today's date. Prices a list does not
have keep their offline value.
"""

from __future__ import annotations

import datetime
import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from cncfdemo.pricing import Price, PriceBook, PricingError

AWS_PRICING = "https://pricing.us-east-1.amazonaws.com"
AWS_REGIONAL_OFFERS = ("AmazonEC2", "AWSELB", "AmazonVPC")
AWS_GLOBAL_OFFERS = ("AmazonRoute53",)
AZURE_RETAIL_PRICES = "https://prices.azure.com/api/retail/prices"

Fetch = Callable[[str], bytes]


def fetch_url(url: str, timeout: float = 300) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "cncfdemo-cost"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - https
            return response.read()
    except OSError as err:
        raise PricingError(f"cannot read {url}: {err}. Run without --refresh-prices to use "
                           "the prices kept in the repository.") from err


def _today() -> str:
    return datetime.date.today().isoformat()


# AWS -----------------------------------------------------------------------------------------

def on_demand(offer: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(product, price dimension) for every on-demand price of an offer file."""
    terms = (offer.get("terms") or {}).get("OnDemand") or {}
    for sku, product in (offer.get("products") or {}).items():
        for term in (terms.get(sku) or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                yield product, dimension


def _usd(dimension: dict[str, Any]) -> float | None:
    raw = (dimension.get("pricePerUnit") or {}).get("USD")
    return None if raw is None else float(raw)


def _first_tier(dimension: dict[str, Any]) -> bool:
    return str(dimension.get("beginRange", "0")) in ("0", "0.0")


def aws_prices(offers: dict[str, dict[str, Any]], sources: dict[str, str],
               machine_types: Iterable[str], taken: str) -> dict[str, Any]:
    """The PriceBook fields an offer file set gives, keyed like PriceBook's fields.

    `offers` maps an offer code (AmazonEC2, AWSELB, AmazonVPC, AmazonRoute53) to its parsed
    file; `sources` maps it to the URL it was read from.
    """
    wanted = set(machine_types)
    machines: dict[str, Price] = {}
    disks: dict[str, Price] = {}
    balancers: dict[str, Price] = {}
    found: dict[str, Any] = {}

    def price(offer: str, usd: float, per: str) -> Price:
        return Price(usd, per, sources[offer], taken)

    for product, dimension in on_demand(offers.get("AmazonEC2") or {}):
        attributes = product.get("attributes") or {}
        family = product.get("productFamily")
        usd = _usd(dimension)
        if usd is None or not _first_tier(dimension):
            continue
        if (family == "Compute Instance" and attributes.get("instanceType") in wanted
                and attributes.get("operatingSystem") == "Linux"
                and attributes.get("tenancy") == "Shared"
                and attributes.get("preInstalledSw") == "NA"
                and attributes.get("capacitystatus", "Used") == "Used"
                and dimension.get("unit") == "Hrs"):
            machines[attributes["instanceType"]] = price("AmazonEC2", usd, "hour")
        elif family == "Storage" and dimension.get("unit") == "GB-Mo" and attributes.get(
                "volumeApiName"):
            disks[attributes["volumeApiName"]] = price("AmazonEC2", usd, "GB-month")
        elif family == "NAT Gateway" and attributes.get("usagetype", "").endswith(
                "NatGateway-Hours"):
            found["nat_gateway"] = price("AmazonEC2", usd, "hour")

    kinds = {"Load Balancer-Network": "network", "Load Balancer-Application": "application",
             "Load Balancer": "classic"}
    for product, dimension in on_demand(offers.get("AWSELB") or {}):
        attributes = product.get("attributes") or {}
        kind = kinds.get(product.get("productFamily", ""))
        usd = _usd(dimension)
        if kind and usd is not None and attributes.get("usagetype", "").endswith(
                "LoadBalancerUsage"):
            balancers[kind] = price("AWSELB", usd, "hour")

    for product, dimension in on_demand(offers.get("AmazonVPC") or {}):
        usage = (product.get("attributes") or {}).get("usagetype", "")
        usd = _usd(dimension)
        if usage.endswith("PublicIPv4:InUseAddress") and usd is not None:
            found["public_address"] = price("AmazonVPC", usd, "hour")

    for product, dimension in on_demand(offers.get("AmazonRoute53") or {}):
        usage = (product.get("attributes") or {}).get("usagetype", "")
        usd = _usd(dimension)
        if usage == "HostedZone" and usd is not None and _first_tier(dimension):
            found["dns_zone"] = price("AmazonRoute53", usd, "month")

    if machines:
        found["machines"] = machines
    if disks:
        found["disks"] = disks
    if balancers:
        found["load_balancers"] = balancers
    return found


def aws_offer_urls(region: str, fetch: Fetch) -> dict[str, str]:
    """The current offer file of each service this estimate reads, for `region`."""
    urls = {}
    for offer in AWS_REGIONAL_OFFERS:
        index_url = f"{AWS_PRICING}/offers/v1.0/aws/{offer}/current/region_index.json"
        regions = json.loads(fetch(index_url)).get("regions") or {}
        if region not in regions:
            raise PricingError(f"unknown region {region!r}: AWS's {offer} price list has no "
                               "such region.")
        urls[offer] = AWS_PRICING + regions[region]["currentVersionUrl"]
    for offer in AWS_GLOBAL_OFFERS:
        urls[offer] = f"{AWS_PRICING}/offers/v1.0/aws/{offer}/current/index.json"
    return urls


# Azure ---------------------------------------------------------------------------------------

def azure_machine_query(region: str, machine_types: Iterable[str]) -> str:
    skus = " or ".join(f"armSkuName eq '{name}'" for name in sorted(machine_types))
    odata = (f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' "
             f"and priceType eq 'Consumption' and ({skus})")
    return AZURE_RETAIL_PRICES + "?" + urllib.parse.urlencode({"$filter": odata})


def azure_machine_prices(items: Iterable[dict[str, Any]], region: str, source: str,
                         taken: str) -> dict[str, Price]:
    """Linux pay-as-you-go hourly prices by armSkuName, from Retail Prices API items."""
    machines: dict[str, Price] = {}
    for item in items:
        sku = item.get("skuName", "")
        if (item.get("armRegionName") != region or item.get("type") != "Consumption"
                or item.get("unitOfMeasure") != "1 Hour"
                or "Windows" in item.get("productName", "")
                or "Spot" in sku or "Low Priority" in sku):
            continue
        machines[item["armSkuName"]] = Price(float(item["retailPrice"]), "hour", source, taken)
    return machines


def azure_items(first_url: str, fetch: Fetch) -> Iterator[dict[str, Any]]:
    url: str | None = first_url
    while url:
        page = json.loads(fetch(url))
        yield from page.get("Items") or []
        url = page.get("NextPageLink")


# one entry point -----------------------------------------------------------------------------

def refresh(book: PriceBook, machine_types: Iterable[str], fetch: Fetch = fetch_url,
            taken: str | None = None) -> PriceBook:
    """`book` with the prices its provider's public list has now; others stay as they were."""
    taken = taken or _today()
    wanted = set(machine_types) | {name for name in book.machines if name != "*"}
    if book.provider == "aws":
        urls = aws_offer_urls(book.region, fetch)
        offers = {offer: json.loads(fetch(url)) for offer, url in urls.items()}
        found = aws_prices(offers, urls, wanted, taken)
    elif book.provider == "azure":
        url = azure_machine_query(book.region, wanted)
        found = {"machines": azure_machine_prices(azure_items(url, fetch), book.region, url,
                                                  taken)}
    elif book.provider == "local":
        return book
    else:
        raise PricingError(f"{book.provider} publishes no price list that can be read without "
                           "credentials; run without --refresh-prices to use the prices kept "
                           "in the repository.")
    merged: dict[str, Any] = {}
    for name, value in found.items():
        merged[name] = {**getattr(book, name), **value} if isinstance(value, dict) else value
    return book.with_prices(**merged)
