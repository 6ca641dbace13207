"""Trust policies: who may assume an IAM role."""

from __future__ import annotations

import json


def service_trust(service: str) -> str:
    """A role only `service` (e.g. `ec2.amazonaws.com`) may assume, for its own calls."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"Service": service}}],
    })
