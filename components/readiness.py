"""The readiness gate, for any provider whose cluster Pulumi builds from machines: nothing is
deployed onto the cluster until its API answers `/readyz` and the expected nodes are Ready.

A Kubernetes provider that `depends_on` the gate's `command` makes every resource deployed through
it wait. The admin kubeconfig reaches kubectl on standard input (a secret input of the command),
never on its command line, in its environment or in its output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_command as command

SCRIPT = Path(__file__).with_name("readiness.sh")


@dataclass(frozen=True)
class ReadinessGateArgs:
    kubeconfig: pulumi.Input[str]
    """The admin kubeconfig, a secret."""
    expected_nodes: int
    api_timeout_seconds: int = 1200
    """How long the API may take to answer /readyz: machines boot, install and run kubeadm."""
    nodes_timeout_seconds: int = 900
    """How long after that until every expected node is Ready."""
    triggers: Sequence[pulumi.Input[object]] = field(default_factory=tuple)
    """Values whose change means a new cluster to wait for (node group ids, say)."""

    def __post_init__(self) -> None:
        if self.expected_nodes < 1:
            raise ValueError(f"expected_nodes must be at least 1, not {self.expected_nodes}")
        for name in ("api_timeout_seconds", "nodes_timeout_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")


class ReadinessGate(pulumi.ComponentResource):
    command: command.local.Command
    """What a Kubernetes provider depends on."""

    def __init__(self, name: str, args: ReadinessGateArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cncfdemo:index:ReadinessGate", name, None, opts)
        self.command = command.local.Command(
            f"{name}-wait",
            create=SCRIPT.read_text(),
            stdin=pulumi.Output.secret(args.kubeconfig),
            environment={
                "EXPECTED_NODES": str(args.expected_nodes),
                "API_TIMEOUT": str(args.api_timeout_seconds),
                "NODES_TIMEOUT": str(args.nodes_timeout_seconds),
            },
            triggers=list(args.triggers),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
