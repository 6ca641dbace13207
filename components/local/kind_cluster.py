"""A kind cluster driven through pulumi-command: created by `up`, deleted by `destroy`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s
import yaml

READY_TIMEOUT = "300s"


@dataclass(frozen=True)
class KindClusterArgs:
    node_image: str
    """Pinned kind node image, e.g. `kindest/node:v1.35.3`."""
    masters: int
    minions: int
    pod_cidr: str
    service_cidr: str
    published_ports: tuple[int, ...] = ()
    """Node ports published on 127.0.0.1 of the host, through the first control-plane node."""

    def __post_init__(self) -> None:
        if self.masters < 1 or self.minions < 0:
            raise ValueError("a kind cluster needs at least one control-plane node")


def kind_config(args: KindClusterArgs) -> str:
    """The kind cluster configuration, passed to `kind create cluster` on standard input."""
    first_master = {
        "role": "control-plane",
        "image": args.node_image,
        "extraPortMappings": [
            {"containerPort": port, "hostPort": port, "listenAddress": "127.0.0.1",
             "protocol": "TCP"}
            for port in args.published_ports
        ],
    }
    nodes = [first_master]
    nodes += [{"role": "control-plane", "image": args.node_image}] * (args.masters - 1)
    nodes += [{"role": "worker", "image": args.node_image}] * args.minions
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {"podSubnet": args.pod_cidr, "serviceSubnet": args.service_cidr,
                       "apiServerAddress": "127.0.0.1"},
        "nodes": nodes,
    }
    return yaml.safe_dump(config, sort_keys=False)


class KindCluster(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, args: KindClusterArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:local:KindCluster", name, None, opts)
        config = kind_config(args)

        cluster = command.local.Command(
            f"{name}-kind",
            create=f"kind create cluster --name {name} --config - --wait {READY_TIMEOUT}",
            delete=f"kind delete cluster --name {name}",
            stdin=config,
            triggers=[config],
            # kind names the cluster, so a changed one cannot be made beside the old: delete
            # first, or the create fails and the old one's delete would remove the new.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

        # The API answering is not enough: workloads wait until every node is Ready.
        ready = command.local.Command(
            f"{name}-ready",
            create=(
                f"kubectl --context kind-{name} get --raw=/readyz && "
                f"kubectl --context kind-{name} wait --for=condition=Ready nodes --all "
                f"--timeout={READY_TIMEOUT}"
            ),
            triggers=[cluster.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
        )

        kubeconfig = command.local.Command(
            f"{name}-kubeconfig",
            create=f"kind get kubeconfig --name {name}",
            logging="stderr",
            triggers=[cluster.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ready],
                                        additional_secret_outputs=["stdout"]),
        )
        self.kubeconfig = pulumi.Output.secret(kubeconfig.stdout)

        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ready]),
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})
