"""`cncfdemo compare`: the table and its figures, and the HTML report opened in a real headless
Chromium, whose screenshot must show every chart drawn with bars of the right lengths."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import require_tool
from PIL import Image

from cncfdemo import charts, compare, cost
from cncfdemo.benchmark_results import BenchmarkFile, BenchmarkResult
from cncfdemo.cli import main

STACKS = ["aws-demo", "azure-demo", "local-demo"]
WINDOW = (1280, 1600)

# what two stacks measured; azure-demo is not built, so it has no run
RUNS = {
    "aws-demo": dict(throughput=1850.4, p50=0.0212, p99=0.0893, requests=555_120, errors=666),
    "local-demo": dict(throughput=640.2, p50=0.0481, p99=0.2150, requests=192_060, errors=768),
}


def saved_run(stack: str, provider: str, throughput: float, p50: float, p99: float,
              requests: int, errors: int) -> BenchmarkFile:
    return BenchmarkFile(
        result=BenchmarkResult(
            stack=stack, provider=provider, run_id=f"{stack}-20261203-120000-ab12",
            requests=requests, errors=errors, duration_seconds=300.0, throughput=throughput,
            latency_seconds={"0.5": p50, "0.9": (p50 + p99) / 2, "0.99": p99},
            latency_max_seconds=p99 * 2, connections=64, threads=4, completed=1796299200.0),
        settings={"duration": 300, "connections": 64, "threads": 4})


@pytest.fixture
def results(tmp_path) -> Path:
    folder = tmp_path / "results"
    saved_run("aws-demo", "aws", **RUNS["aws-demo"]).save(folder / "aws-demo.benchmark.json")
    saved_run("local-demo", "local", **RUNS["local-demo"]).save(
        folder / "local-demo.benchmark.json")
    return folder


# the figures ---------------------------------------------------------------------------------

def test_rows_join_costs_and_runs(results, project_root):
    rows = {row.stack: row for row in compare.gather(STACKS, results, project_root)}
    aws = rows["aws-demo"]
    assert (aws.provider, aws.nodes, aws.node_text) == ("aws", 4, "1 x t3.medium + 3 x t3.large")
    assert aws.monthly == pytest.approx(318.18, abs=0.005)
    # a million requests take 1e6 / 1850.4 s = 0.15012 h of the stack's hourly cost
    assert aws.cost_per_million == pytest.approx(aws.hourly * 1e6 / (1850.4 * 3600))
    assert aws.error_rate == pytest.approx(666 / 555_120)
    assert (aws.p50, aws.p99) == (0.0212, 0.0893)

    azure = rows["azure-demo"]
    assert azure.planned and azure.benchmark is None
    assert azure.throughput is None and azure.cost_per_million is None
    assert rows["local-demo"].cost_per_million == 0


def test_a_saved_estimate_is_used_instead_of_estimating_again(results, project_root):
    estimate = cost.estimate_stack("aws-demo").as_dict()
    estimate["hourly"], estimate["monthly"] = 1.0, 730.0
    (results / "aws-demo.cost.json").write_text(json.dumps(estimate))

    def refuse(*args):
        raise AssertionError("aws-demo has a saved estimate; it must not be estimated again")

    row = compare.gather(["aws-demo"], results, project_root, estimate=refuse)[0]
    assert (row.hourly, row.monthly) == (1.0, 730.0)


def test_the_command_prints_the_table_and_writes_html_and_json(results, tmp_path):
    out, as_json = tmp_path / "report.html", tmp_path / "report.json"
    done = CliRunner().invoke(main, ["compare", *STACKS, "--results", str(results),
                                     "--out", str(out), "--json", str(as_json)])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].split()[:3] == ["stack", "provider", "nodes"]
    assert re.search(r"^aws-demo\s+aws\s+4\s+\$0\.4359\s+\$318\.18\s+1,850\.4 req/s", done.output,
                     re.M)
    assert "* cost planned from configuration, stack not built" in done.output
    table = json.loads(as_json.read_text())
    assert [row["stack"] for row in table] == STACKS
    assert table[1]["costBasis"] == "planned from configuration, stack not built"
    assert table[1]["throughputRequestsPerSecond"] is None


def test_the_report_needs_nothing_from_the_network(results, tmp_path, project_root):
    html = compare.render_html(compare.gather(STACKS, results, project_root))
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert html.count("<svg") == 5


def svgs(html: str) -> dict[str, str]:
    return {chart_id: svg for svg, chart_id in
            re.findall(r'(<svg [^>]*id="([^"]+)".*?</svg>)', html, re.S)}


def test_cost_charts_mark_a_stack_planned_from_its_settings(results, project_root):
    charts_by_id = svgs(compare.render_html(compare.gather(STACKS, results, project_root)))
    note = "* cost planned from configuration, stack not built: only its nodes are priced"
    for chart_id in ("chart-cost", "chart-cost-per-million"):
        chart = charts_by_id[chart_id]
        assert ">azure-demo *</text>" in chart and ">aws-demo</text>" in chart, chart_id
        assert note in chart, chart_id
    for chart_id in ("chart-throughput", "chart-latency", "chart-error-rate"):
        assert ">azure-demo</text>" in charts_by_id[chart_id] and note not in charts_by_id[chart_id]

    built = svgs(compare.render_html(compare.gather(["aws-demo"], results, project_root)))
    assert "*" not in built["chart-cost"] and "planned" not in built["chart-cost"]


def test_a_stack_without_results_is_said_once_per_chart(results, project_root):
    charts_by_id = svgs(compare.render_html(compare.gather(STACKS, results, project_root)))
    for chart_id in ("chart-throughput", "chart-latency", "chart-error-rate",
                     "chart-cost-per-million"):
        assert charts_by_id[chart_id].count("no benchmark results") == 1, chart_id
    assert "no benchmark results" not in charts_by_id["chart-cost"]


def test_the_error_rate_is_charted(results, project_root):
    rows = compare.gather(STACKS, results, project_root)
    chart = svgs(compare.render_html(rows))["chart-error-rate"]
    assert ">0.12 %</text>" in chart and ">0.40 %</text>" in chart


def test_latency_series_are_named_as_percentiles():
    page = compare.render_benchmark_html(saved_run("aws-demo", "aws", **RUNS["aws-demo"]))
    legend = re.findall(r'class="legend"[^>]*>([^<]*)<', page)
    assert legend == ["p50", "p90", "p99", "max"]
    assert not re.search(r">0\.(5|9|99)<", page)


# saved files that cannot be read ---------------------------------------------------------------

ESTIMATE = {"stack": "aws-demo", "provider": "aws", "region": "us-east-1", "basis": "graph",
            "currency": "USD", "hourly": 1.0, "monthly": 730.0,
            "nodeGroups": [{"role": "masters", "count": 1, "machineType": "t3.medium"}]}


@pytest.mark.parametrize(("text", "says"), [
    ("", "is empty"),
    ('{"stack": "aws-demo", "provi', "is not valid JSON"),
    ("null", "holds null, not an object"),
    (json.dumps({"stack": "aws-demo", "provider": "aws"}),
     "lacks region, basis, currency, nodeGroups, hourly, monthly"),
    (json.dumps({**ESTIMATE, "hourly": "cheap"}), "malformed (hourly is 'cheap')"),
    (json.dumps({**ESTIMATE, "monthly": True}), "malformed (monthly is True)"),
    (json.dumps({**ESTIMATE, "basis": "guessed"}), "basis is 'guessed', not one of graph"),
    (json.dumps({**ESTIMATE, "nodeGroups": [{"count": "4", "machineType": "t3.large"}]}),
     "nodeGroups[0] is {'count': '4'"),
    (json.dumps({**ESTIMATE, "stack": "gcp-demo"}), "is the estimate of stack 'gcp-demo'"),
])
def test_an_unreadable_cost_estimate_is_a_clean_error_naming_it(results, tmp_path, text, says):
    saved = results / "aws-demo.cost.json"
    saved.write_text(text)
    done = CliRunner().invoke(main, ["compare", "aws-demo", "--results", str(results),
                                     "--out", str(tmp_path / "report.html")])
    assert done.exit_code == 1, done.output
    assert isinstance(done.exception, SystemExit), done.exception  # no traceback
    assert done.output.startswith(f"Error: cost estimate {saved}") or \
        done.output.startswith(f"Error: cannot read cost estimate {saved}"), done.output
    assert says in done.output
    assert "--json" in done.output  # how to write it again
    assert not (tmp_path / "report.html").exists()


def test_a_minimal_saved_estimate_is_enough(results, project_root):
    (results / "aws-demo.cost.json").write_text(json.dumps(ESTIMATE))
    row = compare.gather(["aws-demo"], results, project_root)[0]
    assert (row.nodes, row.monthly, row.throughput) == (1, 730.0, 1850.4)


@pytest.mark.parametrize(("text", "says"), [
    ("", "is empty"),
    ('{"kind": "cncfdemo-benchmark", "results": {"thr', "is not valid JSON"),
    (json.dumps({"kind": "cncfdemo-benchmark", "results": {"stack": "aws-demo"}}),
     "lack results."),
])
def test_an_unreadable_benchmark_file_is_a_clean_error_naming_it(results, tmp_path, text, says):
    saved = results / "aws-demo.benchmark.json"
    saved.write_text(text)
    (results / "aws-demo.cost.json").write_text(json.dumps(ESTIMATE))
    done = CliRunner().invoke(main, ["compare", "aws-demo", "--results", str(results),
                                     "--out", str(tmp_path / "report.html")])
    assert done.exit_code == 1, done.output
    assert isinstance(done.exception, SystemExit), done.exception
    assert f"benchmark results {saved}" in done.output and says in done.output


def test_a_benchmark_file_of_another_stack_is_refused(results, tmp_path):
    (results / "local-demo.benchmark.json").replace(results / "gcp-demo.benchmark.json")
    done = CliRunner().invoke(main, ["compare", "gcp-demo", "--results", str(results),
                                     "--out", str(tmp_path / "report.html")])
    assert done.exit_code == 1, done.output
    assert "are a run of stack 'local-demo', not 'gcp-demo'" in done.output


# the report in a real browser ------------------------------------------------------------------

# Reads where each chart sits after layout, and where each legend swatch and label were drawn
# (in the chart's own pixels), for the test only (the report itself has no script).
RECTS_SCRIPT = """<script>
function span(element) {
  if (!element) { return null; }
  var box = element.getBBox();
  return [box.x, box.x + box.width];
}
document.body.setAttribute("data-rects", JSON.stringify(Array.from(
  document.querySelectorAll("svg.chart"), function (svg) {
    var r = svg.getBoundingClientRect();
    var swatches = svg.querySelectorAll("rect.legend-swatch");
    var legend = Array.from(svg.querySelectorAll("text.legend"), function (text, index) {
      return {name: text.textContent, swatch: span(swatches[index]), label: span(text)};
    });
    return {id: svg.id, x: r.left, y: r.top, width: r.width, height: r.height, legend: legend};
  })));
</script>"""


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require_tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
         "--hide-scrollbars", "--force-device-scale-factor=1",
         f"--window-size={WINDOW[0]},{WINDOW[1]}", *args],
        capture_output=True, text=True, timeout=120, check=True)


def drawn(report: Path, tmp_path: Path) -> tuple[Image.Image, dict[str, dict]]:
    """The report as Chromium draws it, and where each chart landed."""
    probe = tmp_path / f"{report.stem}-probe.html"
    probe.write_text(report.read_text().replace("</body>", RECTS_SCRIPT + "</body>"))
    dom = chromium(["--dump-dom", probe.as_uri()], tmp_path / "profile-dom").stdout
    found = re.search(r'data-rects="([^"]*)"', dom)
    assert found, "Chromium laid out no chart"
    rects = {r["id"]: r for r in json.loads(found.group(1).replace("&quot;", '"'))}

    png = tmp_path / f"{report.stem}.png"
    chromium([f"--screenshot={png}", report.as_uri()], tmp_path / "profile-shot")
    return Image.open(png).convert("RGB"), rects


@pytest.fixture
def screenshot(results, tmp_path, project_root):
    report = tmp_path / "report.html"
    compare.write(compare.gather(STACKS, results, project_root), report)
    return drawn(report, tmp_path)


def blend(colour: str, opacity: float) -> tuple[int, int, int]:
    """A bar's colour as drawn over the white page."""
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return tuple(round(c * opacity + 255 * (1 - opacity)) for c in rgb)


def bar_columns(image: Image.Image, rect: dict, colour: tuple[int, int, int]) -> int:
    """How many pixel columns of the chart hold the colour: the length of its bar."""
    left, top = int(rect["x"]), int(rect["y"])
    crop = image.crop((left, top, left + int(rect["width"]), top + int(rect["height"])))
    width, height = crop.size
    pixels = crop.load()
    return sum(1 for x in range(width)
               if any(_near(pixels[x, y], colour) for y in range(height)))


def _near(pixel, colour, tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_the_report_opens_in_chromium_with_every_chart_drawn(screenshot):
    image, rects = screenshot
    assert set(rects) == {"chart-throughput", "chart-latency", "chart-error-rate", "chart-cost",
                          "chart-cost-per-million"}
    for chart_id, rect in rects.items():
        assert rect["width"] > 300 and rect["height"] > 80, chart_id
        assert rect["y"] + rect["height"] <= WINDOW[1], f"{chart_id} is below the screenshot"

    aws, azure, local = (blend(charts.stack_colour(i), 1.0) for i in range(3))
    plot = charts.WIDTH - charts.LABEL_WIDTH - charts.VALUE_WIDTH

    # throughput: the fastest stack fills the plot, the other is in proportion, azure has none
    throughput = rects["chart-throughput"]
    assert bar_columns(image, throughput, aws) == pytest.approx(plot, abs=2)
    assert bar_columns(image, throughput, local) == pytest.approx(plot * 640.2 / 1850.4, abs=2)
    assert bar_columns(image, throughput, azure) == 0

    # latency: p50 in full colour, p99 lighter; local's p99 is the longest
    latency = rects["chart-latency"]
    local_p99 = blend(charts.stack_colour(2), charts.SERIES_OPACITY[1])
    aws_p99 = blend(charts.stack_colour(0), charts.SERIES_OPACITY[1])
    assert bar_columns(image, latency, local_p99) == pytest.approx(plot, abs=2)
    assert bar_columns(image, latency, aws_p99) == pytest.approx(plot * 0.0893 / 0.2150, abs=2)
    assert bar_columns(image, latency, aws) == pytest.approx(plot * 0.0212 / 0.2150, abs=2)

    # error rate: local's 768 of 192,060 requests is the highest, aws's 666 of 555,120 less
    errors = rects["chart-error-rate"]
    assert bar_columns(image, errors, local) == pytest.approx(plot, abs=2)
    assert bar_columns(image, errors, aws) == pytest.approx(
        plot * (666 / 555_120) / (768 / 192_060), abs=2)
    assert bar_columns(image, errors, azure) == 0

    # cost per month: aws and azure drawn, the free local stack has a bar of no length
    monthly = rects["chart-cost"]
    assert bar_columns(image, monthly, aws) == pytest.approx(plot, abs=2)
    assert bar_columns(image, monthly, azure) == pytest.approx(plot * 240.608 / 318.181, abs=2)
    assert bar_columns(image, monthly, local) == 0

    # cost per million requests: only aws costs anything per request
    per_million = rects["chart-cost-per-million"]
    assert bar_columns(image, per_million, aws) == pytest.approx(plot, abs=2)


def legend_gaps(rect: dict) -> list[tuple[str, float, float]]:
    """(label, pixels from its swatch to it, pixels from the previous label to its swatch)."""
    gaps, previous_end = [], None
    for entry in rect["legend"]:
        assert entry["swatch"] is not None, f"{rect['id']}: no swatch for {entry['name']}"
        swatch_start, swatch_end = entry["swatch"]
        label_start, label_end = entry["label"]
        after_previous = swatch_start - previous_end if previous_end is not None else None
        gaps.append((entry["name"], label_start - swatch_end, after_previous))
        assert label_end <= rect["width"], f"{rect['id']}: {entry['name']} is cut off"
        previous_end = label_end
    return gaps


def test_legend_swatches_sit_apart_from_their_labels_as_drawn(screenshot, results, tmp_path):
    """Measured in the browser's own font: each swatch clearly beside its label, and clearly
    apart from the previous one."""
    _, rects = screenshot
    page = tmp_path / "run.html"
    page.write_text(compare.render_benchmark_html(
        saved_run("aws-demo", "aws", **RUNS["aws-demo"])))
    _, single = drawn(page, tmp_path)
    for rect, names in ((rects["chart-latency"], ["p50", "p99"]),
                        (single["chart-latency"], ["p50", "p90", "p99", "max"])):
        gaps = legend_gaps(rect)
        assert [name for name, _, _ in gaps] == names
        for name, to_label, after_previous in gaps:
            assert 3 <= to_label <= 8, (name, to_label)
            assert after_previous is None or after_previous >= 3 * to_label, (name, gaps)
    assert all(not rects[chart]["legend"] for chart in rects if chart != "chart-latency")


def test_a_chart_without_data_draws_no_bars(tmp_path, project_root):
    """The pixel check can fail: with no runs saved, the run charts hold no bar at all."""
    report = tmp_path / "empty.html"
    compare.write(compare.gather(["aws-demo"], tmp_path / "none", project_root), report)
    image, rects = drawn(report, tmp_path)
    aws = blend(charts.stack_colour(0), 1.0)
    aws_p99 = blend(charts.stack_colour(0), charts.SERIES_OPACITY[1])
    for chart_id in ("chart-throughput", "chart-latency", "chart-cost-per-million"):
        assert bar_columns(image, rects[chart_id], aws) == 0, chart_id
        assert bar_columns(image, rects[chart_id], aws_p99) == 0, chart_id
    plot = charts.WIDTH - charts.LABEL_WIDTH - charts.VALUE_WIDTH
    assert bar_columns(image, rects["chart-cost"], aws) == pytest.approx(plot, abs=2)
    assert "no benchmark results" in report.read_text()
