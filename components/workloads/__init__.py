"""The provider-neutral workloads, deployed through the cluster's Kubernetes provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.workloads import countly
from components.workloads.benchmark import Benchmark, BenchmarkArgs
from components.workloads.boinc import deploy_boinc
from components.workloads.exposure import load_balancer_host
from components.workloads.mongodb import ClientUser, MongoDB, MongoDBArgs
from components.workloads.monitoring import Monitoring, MonitoringArgs
from components.workloads.platform import Platform
from stacks.cluster import Cluster
from stacks.settings import Settings


@dataclass(frozen=True)
class Workloads:
    countly_url: pulumi.Output[str]
    grafana_url: pulumi.Output[str]
    prometheus_url: pulumi.Output[str]
    pushgateway_url: pulumi.Output[str]
    benchmark: pulumi.Output[dict]
    grafana_admin_password: pulumi.Output[str]


@dataclass(frozen=True)
class CountlyEndpoints:
    """What the benchmark and the probes need from Countly."""

    url: pulumi.Output[str]
    """Where people open Countly."""
    api_service_url: pulumi.Input[str]
    """Countly's API inside the cluster."""
    app_key: pulumi.Input[str]
    """App key of the application the benchmark writes to (secret)."""


def _countly(settings: Settings, cluster: Cluster, platform: Platform,
             opts: pulumi.ResourceOptions) -> tuple[CountlyEndpoints, list[pulumi.Resource]]:
    """MongoDB and Countly; returns Countly's endpoints and what the benchmark waits for."""
    namespace = platform.namespaces.demo
    mongodb = MongoDB(f"{cluster.name}-mongodb", MongoDBArgs(
        namespace=namespace,
        storage_class=cluster.storage_class,
        shards=settings.mongo_shards,
        members=settings.mongo_members,
        clients=(ClientUser(countly.MONGODB_USER, countly.DATABASES),),
        sharded_databases=countly.SHARDED_DATABASES,
        sharded_collections=countly.SHARDED_COLLECTIONS,
    ), opts=opts)
    app = countly.Countly(f"{cluster.name}-countly", countly.CountlyArgs(
        namespace=namespace,
        exposure=cluster.exposure,
        mongodb=mongodb,
        min_replicas=settings.countly_min_replicas,
        max_replicas=settings.countly_max_replicas,
    ), opts=opts)
    url = app.url
    if cluster.publish_name is not None and cluster.exposure.service_type == "LoadBalancer":
        # a readable name in the stack's public zone, pointing at Countly's load balancer
        name = cluster.publish_name("countly", load_balancer_host(app.public_service))
        url = pulumi.Output.concat("http://", name, "/")
    endpoints = CountlyEndpoints(url=url, api_service_url=app.api_service_url,
                                 app_key=app.app_key)
    return endpoints, app.ready


def deploy_workloads(settings: Settings, cluster: Cluster) -> Workloads:
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=list(cluster.ready))
    platform = Platform(f"{cluster.name}-platform", opts=opts)
    # every workload waits for its namespace and priority class
    on_platform = pulumi.ResourceOptions(provider=cluster.k8s_provider,
                                         depends_on=[*cluster.ready, *platform.ready])
    namespaces = platform.namespaces

    countly, countly_ready = _countly(settings, cluster, platform, on_platform)

    monitoring = Monitoring(f"{cluster.name}-monitoring", MonitoringArgs(
        cluster=cluster.name,
        namespace=namespaces.monitoring,
        exposure=cluster.exposure,
        storage_class=cluster.storage_class,
        retention=settings.prometheus_retention,
        probes={"countly-api": pulumi.Output.concat(countly.api_service_url, "/o/ping")},
    ), opts=on_platform)

    benchmark = Benchmark(f"{cluster.name}-benchmark", BenchmarkArgs(
        namespace=namespaces.demo,
        stack=settings.stack,
        provider=cluster.provider_name,
        countly_api_url=countly.api_service_url,
        countly_app_key=countly.app_key,
        pushgateway_url=monitoring.pushgateway_in_cluster_url,
        prometheus_url=monitoring.prometheus_in_cluster_url,
        duration_seconds=settings.benchmark_seconds,
        connections=settings.benchmark_connections,
        threads=settings.benchmark_threads,
        run_on_up=settings.benchmark_on_up,
    ), opts=pulumi.ResourceOptions.merge(on_platform, pulumi.ResourceOptions(
        depends_on=[monitoring, *countly_ready])))

    deploy_boinc(f"{cluster.name}-boinc", namespaces.background, settings.boinc_project_url,
                 settings.boinc_account_key, settings.boinc_image, opts=on_platform)

    return Workloads(
        countly_url=countly.url,
        grafana_url=monitoring.grafana_url,
        prometheus_url=monitoring.prometheus_url,
        pushgateway_url=monitoring.pushgateway_url,
        benchmark=benchmark.outputs,
        grafana_admin_password=monitoring.grafana_admin_password,
    )
