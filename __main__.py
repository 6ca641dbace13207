"""cncfdemo: settings, then the provider's cluster, then the workloads, then the outputs."""

from __future__ import annotations

import pulumi

from components.workloads import deploy_workloads
from stacks import settings as stack_settings
from stacks.cluster import provider_module

settings = stack_settings.load()
cluster = provider_module(settings.provider).create_cluster(settings)
workloads = deploy_workloads(settings, cluster)

# what CI reads: the same names on every stack
pulumi.export("clusterName", cluster.name)
pulumi.export("provider", cluster.provider_name)
pulumi.export("region", cluster.region)
pulumi.export("kubernetesVersion", cluster.kubernetes_version)
pulumi.export("apiEndpoint", cluster.api_endpoint)
pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
pulumi.export("nodeGroups", [group.as_output() for group in cluster.node_groups])

# where people look
pulumi.export("countlyUrl", workloads.countly_url)
pulumi.export("grafanaUrl", workloads.grafana_url)
pulumi.export("grafanaAdminPassword", pulumi.Output.secret(workloads.grafana_admin_password))
pulumi.export("prometheusUrl", workloads.prometheus_url)
pulumi.export("pushgatewayUrl", workloads.pushgateway_url)
pulumi.export("benchmark", workloads.benchmark)
