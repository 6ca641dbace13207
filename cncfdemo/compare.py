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
from cncfdemo.benchmark_results import BenchmarkFile

TEMPLATES = Path(__file__).resolve().parent / "templates"


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


def _estimate_dict(stack: str, results: Path, project_dir: Path,
                   estimate: Callable[..., cost.Estimate]) -> dict[str, Any]:
    saved = results / f"{stack}.cost.json"
    if saved.exists():
        return json.loads(saved.read_text())
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
            benchmark=BenchmarkFile.load(saved) if saved.exists() else None,
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


def report_charts(rows: list[Row]) -> list[str]:
    labels = [row.stack for row in rows]
    no_run = "no benchmark results"
    return [
        charts.bar_chart("chart-throughput", "Throughput (requests per second)", labels,
                         [charts.Series("throughput", [r.throughput for r in rows])],
                         lambda v: f"{v:,.1f}", no_run),
        charts.bar_chart("chart-latency", "Latency (milliseconds)", labels,
                         [charts.Series("p50", [r.p50 for r in rows]),
                          charts.Series("p99", [r.p99 for r in rows])],
                         lambda v: f"{v * 1000:.1f} ms", no_run),
        charts.bar_chart("chart-cost", "Cost per month (USD)", labels,
                         [charts.Series("month", [r.monthly for r in rows])],
                         lambda v: f"${v:,.2f}"),
        charts.bar_chart("chart-cost-per-million", "Cost per million requests (USD)", labels,
                         [charts.Series("per million", [r.cost_per_million for r in rows])],
                         lambda v: f"${v:,.4f}", no_run),
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


def render_benchmark_html(saved: BenchmarkFile,
                          generated: datetime.datetime | None = None) -> str:
    """One run on its own page (`cncfdemo benchmark --save-html`)."""
    result = saved.result
    generated = generated or datetime.datetime.now(datetime.UTC)
    latency = charts.bar_chart(
        "chart-latency", "Latency (milliseconds)", [result.stack],
        [charts.Series(q, [result.latency_seconds[q]]) for q in ("0.5", "0.9", "0.99")]
        + [charts.Series("max", [result.latency_max_seconds])],
        lambda v: f"{v * 1000:.1f} ms")
    return environment().get_template("benchmark.html.j2").render(
        saved=saved, result=result, latency=Markup(latency),
        generated=f"{generated:%Y-%m-%d %H:%M} UTC")


def write(rows: list[Row], out: Path, json_out: Path | None = None) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(rows))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps([row.as_dict() for row in rows], indent=2) + "\n")
    return out
