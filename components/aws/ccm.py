"""The AWS cloud controller manager: initialises nodes (provider ID, zone, instance type,
addresses) and makes a load balancer for each `LoadBalancer` Service.

It runs on the masters with host networking, so it reaches the instance metadata service (hop
limit 1) and uses the masters' instance role, whose policy is `CCM_POLICY`.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

NAMESPACE = "kube-system"
NAME = "aws-cloud-controller-manager"
SERVICE_ACCOUNT = "cloud-controller-manager"
CLUSTER_ROLE = "system:cloud-controller-manager"

# One image per Kubernetes minor; no v1.36 image has been published (December 2026), and a
# controller one minor behind the API server is within the supported client skew.
IMAGES = {
    34: "registry.k8s.io/provider-aws/cloud-controller-manager:v1.34.0",
    35: "registry.k8s.io/provider-aws/cloud-controller-manager:v1.35.0",
    36: "registry.k8s.io/provider-aws/cloud-controller-manager:v1.35.0",
    37: "registry.k8s.io/provider-aws/cloud-controller-manager:v1.35.0",
}

CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"

# What the controller does in AWS: cloud-provider-aws's control-plane policy, less the volume
# calls (the CSI driver makes them) and the route calls (cloud routes are off).
CCM_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": [
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeTags",
            "ec2:DescribeAvailabilityZones",
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceTopology",
            "ec2:DescribeRegions",
            "ec2:DescribeRouteTables",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
            "ec2:CreateSecurityGroup",
            "ec2:CreateTags",
            "ec2:DeleteSecurityGroup",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:ModifyInstanceAttribute",
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
            "elasticloadbalancing:AttachLoadBalancerToSubnets",
            "elasticloadbalancing:ConfigureHealthCheck",
            "elasticloadbalancing:CreateListener",
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:CreateLoadBalancerListeners",
            "elasticloadbalancing:CreateLoadBalancerPolicy",
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:DeleteListener",
            "elasticloadbalancing:DeleteLoadBalancer",
            "elasticloadbalancing:DeleteLoadBalancerListeners",
            "elasticloadbalancing:DeleteTargetGroup",
            "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
            "elasticloadbalancing:DeregisterTargets",
            "elasticloadbalancing:DescribeListeners",
            "elasticloadbalancing:DescribeLoadBalancerAttributes",
            "elasticloadbalancing:DescribeLoadBalancerPolicies",
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeTargetGroups",
            "elasticloadbalancing:DescribeTargetHealth",
            "elasticloadbalancing:DetachLoadBalancerFromSubnets",
            "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
            "elasticloadbalancing:RegisterTargets",
            "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
            "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
            "iam:CreateServiceLinkedRole",
            "kms:DescribeKey",
        ],
        "Resource": "*",
    }],
})

RULES = [
    {"api_groups": [""], "resources": ["events"], "verbs": ["create", "patch", "update"]},
    {"api_groups": [""], "resources": ["nodes"],
     "verbs": ["get", "list", "patch", "update", "watch"]},
    {"api_groups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
    {"api_groups": [""], "resources": ["services"], "verbs": ["list", "patch", "update", "watch"]},
    {"api_groups": [""], "resources": ["services/status"], "verbs": ["patch", "update"]},
    {"api_groups": [""], "resources": ["serviceaccounts"], "verbs": ["create", "get"]},
    {"api_groups": [""], "resources": ["persistentvolumes"],
     "verbs": ["get", "list", "update", "watch"]},
    {"api_groups": [""], "resources": ["endpoints"],
     "verbs": ["create", "get", "list", "update", "watch"]},
    {"api_groups": ["coordination.k8s.io"], "resources": ["leases"],
     "verbs": ["create", "get", "list", "update", "watch"]},
]


def image_for(kubernetes_version: str) -> str:
    minor = int(kubernetes_version.split(".")[1])
    if minor not in IMAGES:
        raise ValueError(f"no AWS cloud controller manager image is pinned for Kubernetes "
                         f"1.{minor} (pinned: {', '.join(f'1.{m}' for m in IMAGES)})")
    return IMAGES[minor]


def deploy_ccm(name: str, cluster_name: str, kubernetes_version: str,
               opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """The controller's Kubernetes objects, named from `name`; `opts` carries parent/provider."""
    labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "cncfdemo"}

    account = k8s.core.v1.ServiceAccount(
        f"{name}-sa",
        metadata={"name": SERVICE_ACCOUNT, "namespace": NAMESPACE, "labels": labels},
        opts=opts,
    )
    role = k8s.rbac.v1.ClusterRole(
        f"{name}-role",
        metadata={"name": CLUSTER_ROLE, "labels": labels},
        rules=RULES,
        opts=opts,
    )
    subject = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
    binding = k8s.rbac.v1.ClusterRoleBinding(
        f"{name}-binding",
        metadata={"name": CLUSTER_ROLE, "labels": labels},
        role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                  "name": CLUSTER_ROLE},
        subjects=[subject],
        opts=opts,
    )
    # reads the API server's client CA to authenticate its own health and metrics callers
    auth_reader = k8s.rbac.v1.RoleBinding(
        f"{name}-auth-reader",
        metadata={"name": "cloud-controller-manager:apiserver-authentication-reader",
                  "namespace": NAMESPACE, "labels": labels},
        role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "Role",
                  "name": "extension-apiserver-authentication-reader"},
        subjects=[subject],
        opts=opts,
    )

    daemon_set = k8s.apps.v1.DaemonSet(
        f"{name}-daemonset",
        metadata={"name": NAME, "namespace": NAMESPACE, "labels": labels},
        spec={
            "selector": {"match_labels": {"app.kubernetes.io/name": NAME}},
            "update_strategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "service_account_name": SERVICE_ACCOUNT,
                    "priority_class_name": "system-node-critical",
                    "host_network": True,
                    "node_selector": {CONTROL_PLANE: ""},
                    "tolerations": [
                        {"key": UNINITIALIZED, "value": "true", "effect": "NoSchedule"},
                        {"key": CONTROL_PLANE, "operator": "Exists", "effect": "NoSchedule"},
                    ],
                    "containers": [{
                        "name": "cloud-controller-manager",
                        "image": image_for(kubernetes_version),
                        "args": [
                            "--v=2",
                            "--cloud-provider=aws",
                            f"--cluster-name={cluster_name}",
                            # Calico routes pod traffic itself; no VPC routes per node
                            "--configure-cloud-routes=false",
                            "--use-service-account-credentials=false",
                        ],
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"cpu": "500m", "memory": "512Mi"},
                        },
                        "liveness_probe": {
                            "http_get": {"path": "/healthz", "port": 10258, "scheme": "HTTPS"},
                            "initial_delay_seconds": 20,
                            "period_seconds": 20,
                            "timeout_seconds": 5,
                        },
                        "readiness_probe": {
                            "http_get": {"path": "/healthz", "port": 10258, "scheme": "HTTPS"},
                            "period_seconds": 10,
                            "timeout_seconds": 5,
                        },
                        "security_context": {"allow_privilege_escalation": False,
                                             "read_only_root_filesystem": True},
                    }],
                },
            },
        },
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[account, binding, auth_reader])),
    )
    return [account, role, binding, auth_reader, daemon_set]
