"""How long `cncfdemo cost` and `cncfdemo compare` take for all five stacks (figures, not checks).

    .venv/bin/python scripts/bench_cost_compare.py [--repeat N]

Each stack is priced N times (3 unless told; 1 is the quickest, as tests/test_bench_scripts.py
runs it), each time in a fresh process as the command runs (the first
program run pays the imports); then the five are compared once from saved estimates and once
estimating all of them, with a saved benchmark run for the two stacks that deploy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("aws-demo", "azure-demo", "gcp-demo", "equinix-demo", "local-demo")
CLI = [sys.executable, "-m", "cncfdemo"]


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return elapsed, done.stdout


def saved_runs(folder: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from cncfdemo.benchmark_results import BenchmarkFile, BenchmarkResult

    for stack, provider, throughput in (("aws-demo", "aws", 1850.0), ("local-demo", "local",
                                                                      640.0)):
        BenchmarkFile(result=BenchmarkResult(
            stack, provider, f"{stack}-bench", throughput * 300, 0, 300.0, throughput,
            {"0.5": 0.02, "0.9": 0.05, "0.99": 0.09}, 0.2, 64, 4, 0.0)).save(
            folder / f"{stack}.benchmark.json")


def at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} runs measure nothing: give 1 or more")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=at_least_one, default=3, metavar="N",
                        help="runs of `cncfdemo cost` per stack (default 3, at least 1)")
    args = parser.parse_args()

    runs = "1 run" if args.repeat == 1 else f"{args.repeat} runs"
    print(f"cncfdemo cost, {runs} per stack, one process each (seconds)")
    print(f"  {'stack':<14} {'basis':<9} {'median':>7} {'min':>7} {'max':>7} {'per month':>10}")
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder)
        for stack in STACKS:
            times = []
            for _ in range(args.repeat):
                elapsed, output = timed([*CLI, "cost", "--stack", stack, "--json"])
                times.append(elapsed)
            (results / f"{stack}.cost.json").write_text(output)
            estimate = json.loads(output)
            print(f"  {stack:<14} {estimate['basis']:<9} {statistics.median(times):7.2f} "
                  f"{min(times):7.2f} {max(times):7.2f} {estimate['monthly']:10.2f}")

        saved_runs(results)
        report = results / "report.html"
        from_saved, _ = timed([*CLI, "compare", *STACKS, "--results", str(results),
                               "--out", str(report)])
        for stack in STACKS:
            (results / f"{stack}.cost.json").unlink()
        estimating, _ = timed([*CLI, "compare", *STACKS, "--results", str(results),
                               "--out", str(report)])
        print(f"\ncncfdemo compare, all {len(STACKS)} stacks (seconds)")
        print(f"  from saved estimates  {from_saved:7.2f}")
        print(f"  estimating each stack {estimating:7.2f}")
        print(f"  report size           {report.stat().st_size / 1024:7.1f} KiB")


if __name__ == "__main__":
    main()
