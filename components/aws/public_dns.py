"""Readable public names for the cluster's load balancers, in a public Route53 zone the user
already has (`cncfdemo:awsPublicZone`): `countly` becomes `countly.<cluster>.<zone>`.

Each name is a CNAME to the load balancer's own host name, made through Pulumi (so `destroy`
removes it, before the Service whose address it names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
from pulumi_aws import route53

RECORD_TTL = 60
_KEY = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")


@dataclass(frozen=True)
class PublicNamesArgs:
    cluster_name: str
    zone_name: str
    """An existing public hosted zone, e.g. demo.example.com."""


class PublicNames(pulumi.ComponentResource):
    zone_id: str

    def __init__(self, name: str, args: PublicNamesArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:aws:PublicNames", name, None, opts)
        self._name = name
        self._args = args
        # looked up now, so a zone that does not exist stops the run before anything is made
        self.zone_id = route53.get_zone(name=args.zone_name, private_zone=False).zone_id
        self._published: set[str] = set()
        self.register_outputs({"zoneId": self.zone_id})

    def name_for(self, key: str) -> str:
        return f"{key}.{self._args.cluster_name}.{self._args.zone_name}"

    def publish(self, key: str, host: pulumi.Input[str]) -> pulumi.Output[str]:
        """Point `<key>.<cluster>.<zone>` at a load balancer's host; returns the new name."""
        if not _KEY.match(key):
            raise ValueError(f"{key!r} is not a DNS label")
        if key in self._published:
            raise ValueError(f"{self.name_for(key)} is already published")
        self._published.add(key)
        record = route53.Record(
            f"{self._name}-{key}",
            zone_id=self.zone_id,
            name=self.name_for(key),
            type="CNAME",
            ttl=RECORD_TTL,
            records=[host],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return record.fqdn
