"""Replaces every secret in text with a marker of the same shape.

A secret can reach a file whole, line by line (a PEM block indented into YAML) or base64-encoded
(a kubeconfig's `client-key-data`, a Secret's `data`); each form is masked.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

# Secrets shorter than this are too likely to match innocent text to be replaced inside it.
MIN_SECRET_LENGTH = 6
MIN_LINE_LENGTH = 16


def marker(secret: str) -> str:
    """`MASKED` and a digest, padded or cut to the secret's length: same shape, no content."""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    text = f"MASKED-{digest}"
    if len(secret) <= len(text):
        return text[: max(len(secret), len("MASKED"))]
    return (text * (len(secret) // len(text) + 1))[: len(secret)]


class Masker:
    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            forms.add(secret)
            forms.add(base64.b64encode(secret.encode()).decode())
            for line in secret.splitlines():
                line = line.strip()
                if len(line) >= MIN_LINE_LENGTH and not line.startswith("-----"):
                    forms.add(line)
        # Longest first, so a whole secret is replaced before its own lines are looked for.
        self.forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, marker(form))
        return text

    def leaks(self, text: str) -> list[str]:
        """The secret forms still present in `text` (the tests look for leaks with it)."""
        return [form for form in self.forms if form in text]
