"""The stack's configuration, read once and validated before any resource exists.

Every key lives in the `cncfdemo:` namespace and is spelled the same on every stack. `SETTINGS`
below is the one table of keys, defaults and examples: Pulumi.yaml and the README's config table
are checked against it by the tests.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.config import is_config_secret

NAMESPACE = "cncfdemo"

PROVIDERS = ("aws", "azure", "gcp", "equinix", "local")

# Kubernetes minor versions still maintained upstream in December 2026 and known to
# kubernetes-validate; a version outside this range is refused rather than half-supported.
SUPPORTED_MINORS = (34, 35, 36, 37)

MAX_MASTERS = 7
MAX_MINIONS = 100

# kube-apiserver refuses an IPv4 service range with more than 20 host bits (larger than a /12).
LARGEST_SERVICE_PREFIX = 12


@dataclass(frozen=True)
class Key:
    """One configuration key: its name, default, meaning and an example value."""

    name: str
    default: Any
    meaning: str
    example: str
    secret: bool = False
    # A list value is set item by item (`--path 'ns:key[0]'`); a plain `config set` stores text.
    is_list: bool = False


SETTINGS: tuple[Key, ...] = (
    Key("provider", None, "Where the cluster runs: aws, azure, gcp, equinix or local.", "aws"),
    Key("clusterName", None, "Name of the cluster and prefix of every resource "
        "(default: the stack name).", "demo1"),
    Key("kubernetesVersion", "1.35.3", "Kubernetes version of every node, as major.minor.patch.",
        "1.36.1"),
    Key("masterCount", 1, "Control-plane nodes; an odd number for etcd quorum.", "3"),
    Key("minionCount", 2, "Worker nodes.", "5"),
    Key("masterSize", None, "Machine type of the control-plane nodes (provider's own names; "
        "each stack file sets it).", "t3.medium"),
    Key("minionSize", None, "Machine type of the workers (provider's own names; each stack "
        "file sets it).", "t3.large"),
    Key("nodeCidr", "10.0.0.0/16", "Address range of the nodes' network.", "10.20.0.0/16"),
    Key("podCidr", "192.168.0.0/16", "Address range of pods (the CNI's pool).", "172.20.0.0/16"),
    Key("serviceCidr", "10.96.0.0/12", "Address range of cluster Services.", "10.100.0.0/16"),
    Key("apiAllowedCidrs", None, "CIDRs allowed to reach the Kubernetes API; required, never "
        "empty.", '["203.0.113.0/24"]', is_list=True),
    Key("nodeImage", None, "Prebuilt node image (from packer/); without it nodes install "
        "their packages at boot.", "ami-0123456789abcdef0"),
    Key("mongoShards", 2, "MongoDB shard replica sets.", "3"),
    Key("mongoMembers", 3, "Members of each MongoDB replica set.", "3"),
    Key("countlyMinReplicas", 2, "Fewest Countly API pods the autoscaler keeps.", "2"),
    Key("countlyMaxReplicas", 6, "Most Countly API pods the autoscaler may run.", "10"),
    Key("benchmarkDuration", "5m", "Length of a wrk run, as seconds, minutes or hours.", "90s"),
    Key("benchmarkConnections", 64, "Open HTTP connections of a wrk run.", "128"),
    Key("benchmarkThreads", 4, "wrk threads; at most the number of connections.", "8"),
    Key("benchmarkOnUp", True, "Run the benchmark once at `pulumi up`.", "false"),
    Key("prometheusRetention", "7d", "How long Prometheus keeps samples.", "15d"),
    Key("boincProjectUrl", "https://www.worldcommunitygrid.org/", "BOINC project the "
        "background job attaches to.", "https://boinc.bakerlab.org/rosetta/"),
    Key("boincAccountKey", None, "BOINC account key (secret); without it BOINC is not "
        "deployed.", "--secret <key>", secret=True),
    Key("boincImage", "boinc/client:base-ubuntu", "BOINC client image; the official one "
        "publishes moving tags only, so pin a digest you have tested.",
        "boinc/client@sha256:<digest>"),
)

# Settings only one provider reads, grouped by provider and named for it (`aws:region` is the
# AWS provider's own key and is documented by Pulumi).
PROVIDER_SETTINGS: dict[str, tuple[Key, ...]] = {
    "local": (
        Key("localKubeconfigContext", None, "Use this existing kubeconfig context instead of "
            "creating a kind cluster.", "docker-desktop"),
        Key("localKubeconfigPath", "~/.kube/config", "Kubeconfig file holding "
            "localKubeconfigContext.", "~/.kube/other-config"),
        Key("localKindNodeImage", None, "kind node image (default: kindest/node at the stack's "
            "kubernetesVersion).", "kindest/node:v1.35.3"),
    ),
    "aws": (
        Key("awsSshAllowedCidrs", None, "CIDRs allowed to reach the nodes on SSH port 22; "
            "unset means no SSH at all.", '["203.0.113.7/32"]', is_list=True),
        Key("awsSshKeyName", None, "EC2 key pair installed on the nodes (only useful with "
            "awsSshAllowedCidrs).", "my-key"),
        Key("awsPublicZone", None, "Public Route53 zone in which Countly gets the name "
            "countly.<cluster>.<zone>.", "demo.example.com"),
        Key("awsRootVolumeGb", 30, "Root volume of every node in GiB (gp3, encrypted).", "50"),
    ),
}

KEYS = {key.name: key for key in SETTINGS}
ALL_KEYS = {key.name: key for group in (SETTINGS, *PROVIDER_SETTINGS.values()) for key in group}

_VERSION = re.compile(r"^1\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_DURATION = re.compile(r"^([1-9]\d*)([smh])$")
_CLUSTER_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}
# A container image: lower-case path components, then a tag, a digest or both.
_IMAGE = re.compile(r"^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?"
                    r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[0-9a-f]{64})?$")


def duration_seconds(text: str) -> int | None:
    """Seconds in a duration like 90s, 5m or 1h; None when it is not one."""
    match = _DURATION.match(text)
    return int(match.group(1)) * _SECONDS[match.group(2)] if match else None


class SettingsError(pulumi.RunError):
    """A configuration value that cannot be used; the message names the key and the fix."""


@dataclass(frozen=True)
class Settings:
    stack: str
    provider: str
    cluster_name: str
    kubernetes_version: str
    master_count: int
    minion_count: int
    master_size: str
    minion_size: str
    node_cidr: str
    pod_cidr: str
    service_cidr: str
    api_allowed_cidrs: tuple[str, ...]
    node_image: str | None
    mongo_shards: int
    mongo_members: int
    countly_min_replicas: int
    countly_max_replicas: int
    benchmark_duration: str
    benchmark_connections: int
    benchmark_threads: int
    benchmark_on_up: bool
    prometheus_retention: str
    boinc_project_url: str
    boinc_image: str
    boinc_account_key: pulumi.Output[str] | None = field(default=None, compare=False)
    # What only the chosen provider reads (its module's `read_settings`), or None.
    provider_settings: Any = field(default=None, compare=False)

    @property
    def benchmark_seconds(self) -> int:
        seconds = duration_seconds(self.benchmark_duration)
        assert seconds is not None, "validated in load()"
        return seconds

    @property
    def api_open_to_world(self) -> bool:
        return any(ipaddress.ip_network(c).prefixlen == 0 for c in self.api_allowed_cidrs)


def set_command(key: str, example: str | None = None) -> str:
    """The `pulumi config set` command that gives `key` a value like its example."""
    spec = ALL_KEYS[key]
    example = example if example is not None else spec.example
    if spec.is_list:
        first = example.strip("[]").split(",")[0].strip().strip('"')
        return f"pulumi config set --path 'cncfdemo:{key}[0]' {first}"
    if spec.secret:
        return f"pulumi config set --secret cncfdemo:{key} {example.removeprefix('--secret ')}"
    return f"pulumi config set cncfdemo:{key} {example}"


def _problem(key: str, what: str, example: str | None = None) -> str:
    return f"cncfdemo:{key}: {what} Set it with `{set_command(key, example)}`."


class Reader:
    """Reads raw config values and collects every problem, so one run reports them all."""

    def __init__(self, config: pulumi.Config | None = None) -> None:
        self.config = config or pulumi.Config(NAMESPACE)
        self.problems: list[str] = []

    def raise_problems(self) -> None:
        if self.problems:
            raise SettingsError("\n\n".join(self.problems))

    def fail(self, key: str, what: str, example: str | None = None) -> None:
        self.problems.append(_problem(key, what, example))

    def failed(self, *keys: str) -> bool:
        """Whether any of these keys already has a problem (so a cross-check stays quiet)."""
        return any(p.startswith(f"cncfdemo:{k}:") for p in self.problems for k in keys)

    def text(self, key: str) -> str | None:
        raw = self.config.get(key)
        if raw is None or raw.strip() == "":
            default = ALL_KEYS[key].default
            return None if default is None else str(default)
        return raw.strip()

    def required_text(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            self.fail(key, "is required and not set.")
            return ""
        return value

    def secret_text(self, key: str) -> pulumi.Output[str] | None:
        """A secret value as a Pulumi secret, or None when unset. A value kept in clear in the
        stack file is refused: it would already sit unencrypted in the repository."""
        raw = self.config.get(key)
        if raw is None or raw.strip() == "":
            return None
        if not is_config_secret(f"{NAMESPACE}:{key}"):
            self.fail(key, "is stored in clear in the stack file; remove it with `pulumi config "
                      f"rm cncfdemo:{key}` and set it encrypted.")
            return None
        return pulumi.Output.secret(raw.strip())

    def integer(self, key: str, low: int, high: int) -> int:
        """The value, or `low` after recording a problem (so later checks stay quiet)."""
        raw = self.text(key)
        if raw is None:
            self.fail(key, "is required and not set.")
            return low
        try:
            value = int(raw)
        except ValueError:
            self.fail(key, f"must be a whole number, not {raw!r}.")
            return low
        if not low <= value <= high:
            self.fail(key, f"must be between {low} and {high}, not {value}.")
            return low
        return value

    def boolean(self, key: str) -> bool:
        raw = (self.text(key) or "").lower()
        if raw in ("true", "yes", "1"):
            return True
        if raw in ("false", "no", "0"):
            return False
        self.fail(key, f"must be true or false, not {raw!r}.")
        return False

    def cidr(self, key: str) -> ipaddress.IPv4Network | None:
        raw = self.required_text(key)
        try:
            network = ipaddress.ip_network(raw, strict=True)
        except ValueError as err:
            self.fail(key, f"{raw!r} is not a CIDR range ({err}).")
            return None
        if not isinstance(network, ipaddress.IPv4Network):
            self.fail(key, f"{raw!r} must be an IPv4 range.")
            return None
        return network

    def cidr_list(self, key: str, required: bool = True) -> tuple[str, ...]:
        """The CIDRs of a list key; an optional one may be unset or empty."""
        try:
            raw = self.config.get_object(key)
        except Exception:  # noqa: BLE001 - any parse failure is the same user mistake
            self.fail(key, "must be a list of CIDRs.")
            return ()
        if raw is None or raw == [] or raw == "":
            if required:
                self.fail(key, "must list at least one CIDR that may reach the API; an empty "
                          "list would lock everyone out.")
            return ()
        if not isinstance(raw, list):
            raw = [raw]
        cidrs = []
        for item in raw:
            try:
                network = ipaddress.ip_network(str(item), strict=True)
            except ValueError as err:
                self.fail(key, f"{item!r} is not a CIDR range ({err}).")
                continue
            # The firewall rules built from these lists are IPv4 rules on every provider.
            if not isinstance(network, ipaddress.IPv4Network):
                self.fail(key, f"{item!r} is an IPv6 range; list IPv4 ranges only.")
                continue
            cidrs.append(str(network))
        return tuple(cidrs)


def _provider_settings(provider: str, read: Reader) -> Any:
    """The chosen provider's module reads its own keys into `read`; only that module is imported,
    so a stack never loads another cloud's SDK."""
    from stacks.cluster import provider_module  # it imports this module: import when called

    reader = getattr(provider_module(provider), "read_settings", None)
    return reader(read) if reader else None


def load(config: pulumi.Config | None = None, stack: str | None = None) -> Settings:
    """Read and validate the whole configuration; raise one SettingsError listing every problem."""
    config = config or pulumi.Config(NAMESPACE)
    stack = stack or pulumi.get_stack()
    read = Reader(config)

    provider = read.required_text("provider")
    if provider and provider not in PROVIDERS:
        read.fail("provider", f"{provider!r} is not a provider this program knows "
                  f"({', '.join(PROVIDERS)}).")

    cluster_name = read.text("clusterName") or stack
    if not _CLUSTER_NAME.match(cluster_name):
        read.fail("clusterName", f"{cluster_name!r} must be a DNS label: lower-case letters, "
                  "digits and '-', starting with a letter, at most 32 characters.")

    version = read.required_text("kubernetesVersion")
    match = _VERSION.match(version)
    if not match:
        read.fail("kubernetesVersion", f"{version!r} is not a version like 1.35.3.")
    elif int(match.group(1)) not in SUPPORTED_MINORS:
        supported = ", ".join(f"1.{m}" for m in SUPPORTED_MINORS)
        read.fail("kubernetesVersion", f"1.{match.group(1)} is not supported (supported: "
                  f"{supported}).")

    master_count = read.integer("masterCount", 1, MAX_MASTERS)
    if master_count % 2 == 0:  # out-of-range values come back as 1, which is odd
        read.fail("masterCount", f"{master_count} masters cannot keep etcd quorum through a "
                  "failure any better than one fewer; use an odd number.", str(master_count - 1))
    minion_count = read.integer("minionCount", 1, MAX_MINIONS)

    master_size = read.required_text("masterSize")
    minion_size = read.required_text("minionSize")

    node_cidr = read.cidr("nodeCidr")
    pod_cidr = read.cidr("podCidr")
    service_cidr = read.cidr("serviceCidr")
    ranges = {"nodeCidr": node_cidr, "podCidr": pod_cidr, "serviceCidr": service_cidr}
    names = list(ranges)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = ranges[first], ranges[second]
            if a is not None and b is not None and a.overlaps(b):
                read.fail(second, f"{b} overlaps cncfdemo:{first} ({a}); the node, pod and "
                          "service ranges must be disjoint.")
    if service_cidr is not None and service_cidr.prefixlen > 24:
        read.fail("serviceCidr", f"{service_cidr} holds only {service_cidr.num_addresses} "
                  "addresses; give Services at least a /24.")
    if service_cidr is not None and service_cidr.prefixlen < LARGEST_SERVICE_PREFIX:
        read.fail("serviceCidr", f"{service_cidr} is larger than kube-apiserver accepts for "
                  f"Services; use a /{LARGEST_SERVICE_PREFIX} or smaller.")
    if node_cidr is not None and node_cidr.prefixlen > 22:
        read.fail("nodeCidr", f"{node_cidr} is too small to split into subnets in two zones; "
                  "use a /22 or larger.")

    api_allowed = read.cidr_list("apiAllowedCidrs")

    mongo_shards = read.integer("mongoShards", 1, 16)
    mongo_members = read.integer("mongoMembers", 1, 7)
    countly_min = read.integer("countlyMinReplicas", 1, 100)
    countly_max = read.integer("countlyMaxReplicas", 1, 200)
    if countly_max < countly_min and not read.failed("countlyMinReplicas", "countlyMaxReplicas"):
        read.fail("countlyMaxReplicas", f"{countly_max} is below cncfdemo:countlyMinReplicas "
                  f"({countly_min}).", str(countly_min))

    duration = read.required_text("benchmarkDuration")
    if duration_seconds(duration) is None:
        read.fail("benchmarkDuration", f"{duration!r} is not a duration like 90s, 5m or 1h.")
    connections = read.integer("benchmarkConnections", 1, 10_000)
    threads = read.integer("benchmarkThreads", 1, 256)
    if threads > connections and not read.failed("benchmarkThreads", "benchmarkConnections"):
        read.fail("benchmarkThreads", f"{threads} threads need at least as many connections "
                  f"(cncfdemo:benchmarkConnections is {connections}).", str(connections))
    on_up = read.boolean("benchmarkOnUp")

    retention = read.required_text("prometheusRetention")
    if not re.match(r"^[1-9]\d*[hdwy]$", retention):
        read.fail("prometheusRetention", f"{retention!r} is not a retention like 24h, 7d or 2w.")

    boinc_url = read.required_text("boincProjectUrl")
    if boinc_url and not re.match(r"^https?://\S+$", boinc_url):
        read.fail("boincProjectUrl", f"{boinc_url!r} is not an http(s) URL.")

    boinc_image = read.required_text("boincImage")
    if boinc_image and not _IMAGE.match(boinc_image):
        read.fail("boincImage", f"{boinc_image!r} is not an image reference like "
                  "registry/name:tag or name@sha256:<64 hex digits>.")

    node_image = read.text("nodeImage")
    boinc_account_key = read.secret_text("boincAccountKey")

    # The provider's own keys join the same report, so one run names every problem.
    provider_settings = _provider_settings(provider, read) if provider in PROVIDERS else None
    read.raise_problems()

    settings = Settings(
        stack=stack,
        provider=provider,
        cluster_name=cluster_name,
        kubernetes_version=version,
        master_count=master_count,
        minion_count=minion_count,
        master_size=master_size,
        minion_size=minion_size,
        node_cidr=str(node_cidr),
        pod_cidr=str(pod_cidr),
        service_cidr=str(service_cidr),
        api_allowed_cidrs=api_allowed,
        node_image=node_image,
        mongo_shards=mongo_shards,
        mongo_members=mongo_members,
        countly_min_replicas=countly_min,
        countly_max_replicas=countly_max,
        benchmark_duration=duration,
        benchmark_connections=connections,
        benchmark_threads=threads,
        benchmark_on_up=on_up,
        prometheus_retention=retention,
        boinc_project_url=boinc_url,
        boinc_image=boinc_image,
        boinc_account_key=boinc_account_key,
        provider_settings=provider_settings,
    )
    if settings.api_open_to_world:
        pulumi.log.warn(
            "cncfdemo:apiAllowedCidrs lets the whole Internet reach the Kubernetes API. "
            "Narrow it with `pulumi config set --path 'cncfdemo:apiAllowedCidrs[0]' "
            "<your-address>/32`."
        )
    if mongo_members % 2 == 0:
        pulumi.log.warn(f"cncfdemo:mongoMembers is {mongo_members}: an even replica set "
                        "tolerates no more failures than one member fewer.")
    return settings
