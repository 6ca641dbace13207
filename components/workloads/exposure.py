"""How a user-facing Service is published, and the URL that reaches it."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.cluster import PUBLISHED_NODE_PORTS, Exposure


def service_spec(exposure: Exposure, key: str, port: int, target_port: int | str,
                 selector: dict[str, str], public: bool) -> dict:
    """A Service spec: a load balancer or published node port when `public`, else ClusterIP."""
    port_spec: dict = {"name": "http", "port": port, "targetPort": target_port, "protocol": "TCP"}
    if not public:
        return {"type": "ClusterIP", "selector": selector, "ports": [port_spec]}
    if exposure.service_type == "NodePort":
        port_spec["nodePort"] = PUBLISHED_NODE_PORTS[key]
        return {"type": "NodePort", "selector": selector, "ports": [port_spec]}
    return {"type": "LoadBalancer", "selector": selector, "ports": [port_spec]}


def service_url(exposure: Exposure, key: str, service: k8s.core.v1.Service, port: int,
                public: bool, path: str = "") -> pulumi.Output[str]:
    """The URL of a Service: its load balancer, its node port on the host, or a port-forward."""
    namespace = service.metadata.namespace
    name = service.metadata.name
    if not public:
        return pulumi.Output.concat(
            "kubectl -n ", namespace, " port-forward svc/", name, f" {port}  # then "
            f"http://localhost:{port}{path}")
    if exposure.service_type == "NodePort":
        return pulumi.Output.from_input(
            f"http://{exposure.node_host}:{PUBLISHED_NODE_PORTS[key]}{path}")

    return pulumi.Output.concat("http://", load_balancer_host(service), f":{port}{path}")


def load_balancer_host(service: k8s.core.v1.Service) -> pulumi.Output[str]:
    """The host name (or address) the cloud gave a LoadBalancer Service; "pending" until then."""

    def from_status(status) -> str:
        status = status.to_dict() if hasattr(status, "to_dict") else (status or {})
        ingress = (status.get("load_balancer") or {}).get("ingress") or [{}]
        return ingress[0].get("hostname") or ingress[0].get("ip") or "pending"

    return service.status.apply(from_status)
