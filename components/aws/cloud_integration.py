"""What makes a self-built cluster an AWS cluster: the cloud controller manager (LoadBalancer
Services), the EBS CSI driver and the default `gp3` StorageClass (persistent volumes), the IAM
permissions they use, and the release step that empties both at destroy.

Destroy order, which is why `ready` exists. Kubernetes, not Pulumi, makes the load balancers of
LoadBalancer Services and the volumes of claims, so they must be gone before the network is
deleted, and they can only be deleted while the controllers that made them still run:

1. Workloads are deployed through a Kubernetes provider that depends on `ready`, so Pulumi
   deletes every workload first (a Service's deletion waits for the controller manager to remove
   its load balancer: the Service carries a finalizer until then).
2. Then the release command runs: it deletes any LoadBalancer Service and claim still in the
   cluster (a StatefulSet's claims outlive it) and waits until the driver has deleted their
   volumes.
3. Only then are the controllers, the cluster and finally the VPC deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_command as command
from pulumi_aws import get_partition, iam

from components.aws.ccm import CCM_POLICY, deploy_ccm
from components.aws.ebs_csi import DRIVER, STORAGE_CLASS, deploy_ebs_csi

RELEASE_SCRIPT = Path(__file__).with_name("release.sh")


@dataclass(frozen=True)
class CloudIntegrationArgs:
    cluster_name: str
    kubernetes_version: str
    region: str
    kubeconfig: pulumi.Input[str]
    """The admin kubeconfig (a secret), for the release step at destroy."""
    masters_role_name: pulumi.Input[str]
    """The masters' instance role: both controllers run on the masters."""
    master_count: int
    release_timeout_seconds: int = 900

    def __post_init__(self) -> None:
        if self.master_count < 1:
            raise ValueError(f"master_count must be at least 1, not {self.master_count}")


class CloudIntegration(pulumi.ComponentResource):
    storage_class: str
    ready: list[pulumi.Resource]
    """What the workloads' Kubernetes provider depends on, so workloads go first at destroy."""

    def __init__(self, name: str, args: CloudIntegrationArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:aws:CloudIntegration", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # permissions, on the masters' role
        ccm_policy = iam.RolePolicy(
            f"{name}-ccm",
            role=args.masters_role_name,
            policy=CCM_POLICY,
            opts=child,
        )
        partition = get_partition().partition
        ebs_policy = iam.RolePolicyAttachment(
            f"{name}-ebs-csi",
            role=args.masters_role_name,
            policy_arn=f"arn:{partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
            opts=child,
        )

        controllers = deploy_ccm(
            f"{name}-ccm", args.cluster_name, args.kubernetes_version,
            pulumi.ResourceOptions(parent=self, depends_on=[ccm_policy]))
        controllers += deploy_ebs_csi(
            f"{name}-ebs-csi", args.cluster_name, args.region,
            min(2, args.master_count),
            pulumi.ResourceOptions(parent=self, depends_on=[ebs_policy]))

        # Created after the controllers, so deleted before them (see the module's docstring).
        # No triggers: a replacement would run the release against a live cluster.
        release = command.local.Command(
            f"{name}-release",
            create="echo 'release: runs at destroy, while the controllers still run'",
            delete=RELEASE_SCRIPT.read_text(),
            stdin=pulumi.Output.secret(args.kubeconfig),
            environment={"RELEASE_TIMEOUT": str(args.release_timeout_seconds),
                         "CSI_DRIVER": DRIVER},
            opts=pulumi.ResourceOptions(parent=self, depends_on=controllers),
        )

        self.storage_class = STORAGE_CLASS
        self.ready = [*controllers, release]
        self.register_outputs({"storageClass": self.storage_class})
