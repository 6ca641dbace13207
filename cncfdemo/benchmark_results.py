"""A benchmark run's results: read from Prometheus over its HTTP API, saved and loaded as JSON.

The wrk hook pushes one summary per run to the Pushgateway (job `cncfdemo_benchmark`, labels
stack, provider, run_id); Prometheus scrapes it with the labels honoured. The metric names are
the contract in components/workloads/benchmark_metrics.py.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.workloads import benchmark_metrics as metrics

FILE_KIND = "cncfdemo-benchmark"
FILE_VERSION = 1
RUN_AGAIN = "run `cncfdemo benchmark` again, or remove the file"

Fetch = Callable[[str], bytes]


class ResultsError(Exception):
    """Prometheus could not be read or holds no (or an incomplete) result for the run, or a saved
    results file is unreadable; the message names the file or the run."""


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def read_json_object(path: Path, what: str, remedy: str) -> dict[str, Any]:
    """A saved JSON object, or a ResultsError naming the file, what is wrong with it and
    `remedy` (what to do about it)."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ResultsError(f"cannot read {what} {path}: {err.strerror or err}") from err
    if not text.strip():
        raise ResultsError(f"{what} {path} is empty (written by a command that failed?): "
                           f"{remedy}.")
    try:
        raw = json.loads(text)
    except ValueError as err:
        raise ResultsError(f"{what} {path} is not valid JSON ({err}; cut short?): "
                           f"{remedy}.") from err
    if not isinstance(raw, dict):
        raise ResultsError(f"{what} {path} holds {_JSON_TYPES.get(type(raw), 'a value')}, not "
                           f"an object: {remedy}.")
    return raw


def write_atomically(path: Path, text: str) -> Path:
    """Write `path` whole or not at all: a reader never finds it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        # mkstemp makes the file private; results are for sharing, as write_text would make them
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def fetch_url(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http(s) only
        return answer.read()


@dataclass(frozen=True)
class BenchmarkResult:
    stack: str
    provider: str
    run_id: str
    requests: float
    errors: float
    duration_seconds: float
    throughput: float
    latency_seconds: dict[str, float]
    latency_max_seconds: float
    connections: float
    threads: float
    completed: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else (1.0 if self.errors else 0.0)

    @property
    def p50(self) -> float:
        return self.latency_seconds["0.5"]

    @property
    def p99(self) -> float:
        return self.latency_seconds["0.99"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack, "provider": self.provider, "runId": self.run_id,
            "requests": self.requests, "errors": self.errors, "errorRate": self.error_rate,
            "durationSeconds": self.duration_seconds,
            "throughputRequestsPerSecond": self.throughput,
            "latencySeconds": dict(self.latency_seconds),
            "latencyMaxSeconds": self.latency_max_seconds,
            "connections": self.connections, "threads": self.threads,
            "completedTimestampSeconds": self.completed,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BenchmarkResult:
        """Raises KeyError naming a missing field, TypeError or ValueError for a bad one."""
        if not isinstance(raw["latencySeconds"], dict):
            raise TypeError(f"latencySeconds is {raw['latencySeconds']!r}, not an object")
        missing = [q for q in metrics.LATENCY_QUANTILES if q not in raw["latencySeconds"]]
        if missing:
            raise KeyError(f"latencySeconds.{missing[0]}")
        return cls(
            stack=raw["stack"], provider=raw["provider"], run_id=raw["runId"],
            requests=float(raw["requests"]), errors=float(raw["errors"]),
            duration_seconds=float(raw["durationSeconds"]),
            throughput=float(raw["throughputRequestsPerSecond"]),
            latency_seconds={q: float(v) for q, v in raw["latencySeconds"].items()},
            latency_max_seconds=float(raw["latencyMaxSeconds"]),
            connections=float(raw["connections"]), threads=float(raw["threads"]),
            completed=float(raw["completedTimestampSeconds"]),
        )


# Prometheus ----------------------------------------------------------------------------------

def query(prometheus_url: str, promql: str, fetch: Fetch = fetch_url) -> list[dict[str, Any]]:
    """An instant query over Prometheus's HTTP API; the vector's samples."""
    url = prometheus_url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(
        {"query": promql})
    try:
        answer = json.loads(fetch(url))
    except (OSError, ValueError) as err:
        raise ResultsError(f"cannot query Prometheus at {prometheus_url}: {err}") from err
    if answer.get("status") != "success":
        raise ResultsError(f"Prometheus refused {promql!r}: {answer.get('error', answer)}")
    return answer["data"]["result"]


def run_selector(run_id: str, stack: str | None = None) -> str:
    labels = [f'job="{metrics.JOB}"', f'run_id="{run_id}"']
    if stack:
        labels.append(f'stack="{stack}"')
    return ",".join(labels)


def read_run(prometheus_url: str, run_id: str, stack: str | None = None,
             fetch: Fetch = fetch_url) -> BenchmarkResult | None:
    """The run's pushed summary, or None while Prometheus has not scraped it yet."""
    names = "|".join(metrics.METRICS)
    samples = query(prometheus_url, f'{{__name__=~"{names}",{run_selector(run_id, stack)}}}',
                    fetch)
    if not samples:
        return None
    values: dict[str, float] = {}
    latency: dict[str, float] = {}
    labels: dict[str, str] = {}
    for sample in samples:
        metric = sample["metric"]
        value = float(sample["value"][1])
        if metric["__name__"] == metrics.LATENCY:
            latency[metric["quantile"]] = value
        else:
            values[metric["__name__"]] = value
        labels = metric
    missing = [name for name in metrics.METRICS if name != metrics.LATENCY and name not in values]
    missing += [f'{metrics.LATENCY}{{quantile="{q}"}}' for q in metrics.LATENCY_QUANTILES
                if q not in latency]
    if missing:
        raise ResultsError(f"run {run_id} in Prometheus lacks {', '.join(missing)}: was it "
                           "pushed by the cncfdemo wrk hook?")
    return BenchmarkResult(
        stack=labels.get("stack", ""), provider=labels.get("provider", ""), run_id=run_id,
        requests=values[metrics.REQUESTS], errors=values[metrics.ERRORS],
        duration_seconds=values[metrics.DURATION], throughput=values[metrics.THROUGHPUT],
        latency_seconds=latency, latency_max_seconds=values[metrics.LATENCY_MAX],
        connections=values[metrics.CONNECTIONS], threads=values[metrics.THREADS],
        completed=values[metrics.COMPLETED],
    )


def wait_for_run(prometheus_url: str, run_id: str, stack: str | None = None,
                 timeout: float = 120, poll: float = 2, fetch: Fetch = fetch_url,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> BenchmarkResult:
    """Read the run once Prometheus has scraped it from the Pushgateway."""
    deadline = clock() + timeout
    while True:
        result = read_run(prometheus_url, run_id, stack, fetch)
        if result is not None:
            return result
        if clock() >= deadline:
            raise ResultsError(
                f"Prometheus at {prometheus_url} has no results for run {run_id} after "
                f"{timeout:g}s. The hook pushes them when wrk ends: check the job's log, then "
                f"the Pushgateway (`{metrics.JOB}` job, run_id={run_id}).")
        sleep(poll)


# files ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BenchmarkFile:
    """What `cncfdemo benchmark --out` saves and `cncfdemo compare` reads."""

    result: BenchmarkResult
    settings: dict[str, Any] = field(default_factory=dict)
    job: dict[str, Any] = field(default_factory=dict)
    prometheus_url: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": FILE_KIND, "version": FILE_VERSION,
            "stack": self.result.stack, "provider": self.result.provider,
            "runId": self.result.run_id, "settings": self.settings, "job": self.job,
            "prometheusUrl": self.prometheus_url, "results": self.result.as_dict(),
        }

    def save(self, path: Path) -> Path:
        return write_atomically(path, json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> BenchmarkFile:
        raw = read_json_object(path, "benchmark results", RUN_AGAIN)
        if raw.get("kind") != FILE_KIND:
            raise ResultsError(f"{path} is not a cncfdemo benchmark file (kind "
                               f"{raw.get('kind')!r}, expected {FILE_KIND!r})")
        if not isinstance(raw.get("results"), dict):
            raise ResultsError(f"benchmark results {path} have no results object: {RUN_AGAIN}.")
        try:
            result = BenchmarkResult.from_dict(raw["results"])
        except KeyError as err:
            raise ResultsError(f"benchmark results {path} lack results.{err.args[0]}: "
                               f"{RUN_AGAIN}.") from err
        except (AttributeError, TypeError, ValueError) as err:
            raise ResultsError(f"benchmark results {path} hold a malformed value in "
                               f"results ({err}): {RUN_AGAIN}.") from err
        return cls(result=result, settings=raw.get("settings") or {}, job=raw.get("job") or {},
                   prometheus_url=raw.get("prometheusUrl", ""))
