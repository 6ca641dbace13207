"""`cncfdemo compare`: stacks side by side, from saved benchmark results and cost estimates.

For each stack it reads `<results>/<stack>.benchmark.json` (written by `cncfdemo benchmark`) and
`<results>/<stack>.cost.json` (written by `cncfdemo cost --json`); a stack without a saved
estimate is estimated offline here. The HTML report embeds its charts as SVG.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from cncfdemo import charts, cost
from cncfdemo.benchmark_results import (
    BenchmarkFile,
    ResultsError,
    read_json_object,
    write_atomically,
)
from components.workloads.benchmark_metrics import LATENCY_QUANTILES

TEMPLATES = Path(__file__).resolve().parent / "templates"

# what a row reads from a saved `cncfdemo cost --json`, and the JSON type each must have
ESTIMATE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "provider": str, "region": str, "basis": str, "currency": str, "nodeGroups": list,
    "hourly": (int, float), "monthly": (int, float),
}
PLANNED_MARK = " *"
NO_RUN = "no benchmark results"


@dataclass(frozen=True)
class Row:
    stack: str
    provider: str
    region: str
    basis: str
    node_groups: list[dict[str, Any]]
    hourly: float
    monthly: float
    currency: str
    benchmark: BenchmarkFile | None

    @property
    def nodes(self) -> int:
        return sum(int(group["count"]) for group in self.node_groups)

    @property
    def node_text(self) -> str:
        return " + ".join(f"{g['count']} x {g['machineType']}" for g in self.node_groups)

    @property
    def planned(self) -> bool:
        return self.basis == cost.PLANNED

    @property
    def throughput(self) -> float | None:
        return self.benchmark.result.throughput if self.benchmark else None

    @property
    def p50(self) -> float | None:
        return self.benchmark.result.p50 if self.benchmark else None

    @property
    def p99(self) -> float | None:
        return self.benchmark.result.p99 if self.benchmark else None

    @property
    def error_rate(self) -> float | None:
        return self.benchmark.result.error_rate if self.benchmark else None

    @property
    def cost_per_million(self) -> float | None:
        """What a million requests cost at the measured throughput: hourly cost over the
        requests served in an hour."""
        if not self.throughput:
            return None
        return self.hourly / (self.throughput * 3600) * 1_000_000

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack, "provider": self.provider, "region": self.region,
            "costBasis": cost.BASIS_NOTES[self.basis], "nodes": self.nodes,
            "nodeGroups": self.node_groups, "currency": self.currency,
            "costPerHour": round(self.hourly, 6), "costPerMonth": round(self.monthly, 4),
            "throughputRequestsPerSecond": self.throughput,
            "latencyP50Seconds": self.p50, "latencyP99Seconds": self.p99,
            "errorRate": self.error_rate, "costPerMillionRequests": self.cost_per_million,
            "runId": self.benchmark.result.run_id if self.benchmark else None,
        }


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    # JSON true is not a number of dollars, though Python's bool is an int
    return isinstance(value, kind) and not isinstance(value, bool)


def load_estimate(path: Path, stack: str) -> dict[str, Any]:
    """A saved estimate, checked for what a row needs; a ResultsError says what is wrong."""
    again = f"write it again with `cncfdemo cost --stack {stack} --json`, or remove it"
    raw = read_json_object(path, "cost estimate", again)
    missing = [key for key in ESTIMATE_FIELDS if key not in raw]
    if missing:
        raise ResultsError(f"cost estimate {path} lacks {', '.join(missing)}: {again}.")
    wrong = [f"{key} is {raw[key]!r}" for key, kind in ESTIMATE_FIELDS.items()
             if not _is(raw[key], kind)]
    if not wrong and raw["basis"] not in cost.BASIS_NOTES:
        wrong.append(f"basis is {raw['basis']!r}, not one of {', '.join(cost.BASIS_NOTES)}")
    if not wrong:
        wrong = [f"nodeGroups[{index}] is {group!r}"
                 for index, group in enumerate(raw["nodeGroups"])
                 if not isinstance(group, dict) or not _is(group.get("count"), int)
                 or not _is(group.get("machineType"), str)]
    if wrong:
        raise ResultsError(f"cost estimate {path} is malformed ({'; '.join(wrong)}): {again}.")
    if raw.get("stack", stack) != stack:
        raise ResultsError(f"cost estimate {path} is the estimate of stack {raw['stack']!r}, "
                           f"not {stack!r}: {again}.")
    return raw


def load_benchmark(path: Path, stack: str) -> BenchmarkFile:
    saved = BenchmarkFile.load(path)
    if saved.result.stack and saved.result.stack != stack:
        raise ResultsError(f"benchmark results {path} are a run of stack "
                           f"{saved.result.stack!r}, not {stack!r}: rename or remove the file.")
    return saved


def _estimate_dict(stack: str, results: Path, project_dir: Path,
                   estimate: Callable[..., cost.Estimate]) -> dict[str, Any]:
    saved = results / f"{stack}.cost.json"
    if saved.exists():
        return load_estimate(saved, stack)
    return estimate(stack, project_dir).as_dict()


def gather(stacks: list[str], results: Path, project_dir: Path,
           estimate: Callable[..., cost.Estimate] = cost.estimate_stack) -> list[Row]:
    rows = []
    for stack in stacks:
        priced = _estimate_dict(stack, results, project_dir, estimate)
        saved = results / f"{stack}.benchmark.json"
        rows.append(Row(
            stack=stack, provider=priced["provider"], region=priced["region"],
            basis=priced["basis"], node_groups=priced["nodeGroups"], hourly=priced["hourly"],
            monthly=priced["monthly"], currency=priced["currency"],
            benchmark=load_benchmark(saved, stack) if saved.exists() else None,
        ))
    return rows


# presenting ---------------------------------------------------------------------------------

def _money(value: float | None, places: int = 4) -> str:
    return "–" if value is None else cost.money(value, places=places)


def _monthly(value: float | None) -> str:
    return _money(value, 2)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.1f} ms"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} req/s"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f} %"


def format_text(rows: list[Row]) -> str:
    header = (f"{'stack':<14} {'provider':<8} {'nodes':>5} {'per hour':>9} {'per month':>10} "
              f"{'throughput':>14} {'p50':>9} {'p99':>9} {'errors':>8} {'per 1M req':>10}")
    lines = [header]
    for row in rows:
        mark = "*" if row.planned else " "
        lines.append(
            f"{row.stack:<14} {row.provider:<8} {row.nodes:>5} {_money(row.hourly):>9} "
            f"{_monthly(row.monthly):>10}{mark}{_rate(row.throughput):>14} {_ms(row.p50):>9} "
            f"{_ms(row.p99):>9} {_percent(row.error_rate):>8} "
            f"{_money(row.cost_per_million):>10}")
    if any(row.planned for row in rows):
        lines.append("* cost planned from configuration, stack not built")
    return "\n".join(lines) + "\n"


def planned_note() -> str:
    return (f"{PLANNED_MARK.strip()} cost {cost.BASIS_NOTES[cost.PLANNED]}: only its nodes "
            "are priced")


def report_charts(rows: list[Row]) -> list[str]:
    labels = [row.stack for row in rows]
    # a cost planned from settings leaves out everything but the nodes: a bar must say so
    cost_labels = [row.stack + (PLANNED_MARK if row.planned else "") for row in rows]
    cost_notes = [planned_note()] if any(row.planned for row in rows) else []
    return [
        charts.bar_chart("chart-throughput", "Throughput (requests per second)", labels,
                         [charts.Series("throughput", [r.throughput for r in rows])],
                         lambda v: f"{v:,.1f}", NO_RUN),
        charts.bar_chart("chart-latency", "Latency (milliseconds)", labels,
                         [charts.Series("p50", [r.p50 for r in rows]),
                          charts.Series("p99", [r.p99 for r in rows])],
                         lambda v: f"{v * 1000:.1f} ms", NO_RUN),
        charts.bar_chart("chart-error-rate", "Error rate (share of requests)", labels,
                         [charts.Series("errors", [r.error_rate for r in rows])],
                         _percent, NO_RUN),
        charts.bar_chart("chart-cost", "Cost per month (USD)", cost_labels,
                         [charts.Series("month", [r.monthly for r in rows])],
                         lambda v: f"${v:,.2f}", notes=cost_notes),
        charts.bar_chart("chart-cost-per-million", "Cost per million requests (USD)", cost_labels,
                         [charts.Series("per million", [r.cost_per_million for r in rows])],
                         lambda v: f"${v:,.4f}", NO_RUN, notes=cost_notes),
    ]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             undefined=jinja2.StrictUndefined, autoescape=True)
    env.filters.update(money=_money, monthly=_monthly, ms=_ms, rate=_rate, percent=_percent)
    return env


def render_html(rows: list[Row], generated: datetime.datetime | None = None) -> str:
    generated = generated or datetime.datetime.now(datetime.UTC)
    return environment().get_template("compare.html.j2").render(
        rows=rows, charts=[Markup(svg) for svg in report_charts(rows)],
        generated=f"{generated:%Y-%m-%d %H:%M} UTC",
        planned_note=cost.BASIS_NOTES[cost.PLANNED], colours=charts.PALETTE,
    )


def percentile_name(quantile: str) -> str:
    """`0.99` as readers know it: `p99`."""
    return f"p{float(quantile) * 100:g}"


def render_benchmark_html(saved: BenchmarkFile,
                          generated: datetime.datetime | None = None) -> str:
    """One run on its own page (`cncfdemo benchmark --save-html`)."""
    result = saved.result
    generated = generated or datetime.datetime.now(datetime.UTC)
    latency = charts.bar_chart(
        "chart-latency", "Latency (milliseconds)", [result.stack],
        [charts.Series(percentile_name(q), [result.latency_seconds[q]])
         for q in LATENCY_QUANTILES]
        + [charts.Series("max", [result.latency_max_seconds])],
        lambda v: f"{v * 1000:.1f} ms")
    return environment().get_template("benchmark.html.j2").render(
        saved=saved, result=result, latency=Markup(latency),
        generated=f"{generated:%Y-%m-%d %H:%M} UTC")


def write(rows: list[Row], out: Path, json_out: Path | None = None) -> Path:
    write_atomically(out, render_html(rows))
    if json_out is not None:
        write_atomically(json_out, json.dumps([row.as_dict() for row in rows], indent=2) + "\n")
    return out
