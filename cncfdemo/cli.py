"""`cncfdemo`: what Pulumi does not do for this project, from the same program and stack files."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from cncfdemo import stackconfig


@click.group()
@click.option("--project-dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=stackconfig.PROJECT_ROOT, show_default=True,
              help="Folder holding Pulumi.yaml and the stack files.")
@click.pass_context
def main(ctx: click.Context, project_dir: Path) -> None:
    """Render, cost, benchmark and compare cncfdemo stacks."""
    ctx.obj = project_dir.resolve()


def run_stack(project_dir: Path, stack: str):
    """Run the program offline for `stack`, turning its failures into a clean exit."""
    from cncfdemo import harness

    try:
        return harness.run_program(stack, project_dir)
    except stackconfig.StackConfigError as err:
        raise click.ClickException(str(err)) from err
    except harness.ProgramError as err:
        raise click.ClickException(f"stack {stack!r} cannot be rendered:\n\n{err}") from err


@main.command()
@click.option("--stack", required=True, help="Stack name, as in Pulumi.<stack>.yaml.")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder to write: new, empty, or an earlier render (replaced).")
@click.pass_obj
def render(project_dir: Path, stack: str, out: Path) -> None:
    """Write what `pulumi up` would submit for STACK, offline, with secrets masked."""
    from cncfdemo import render as render_module

    run = run_stack(project_dir, stack)
    for message in run.warnings:
        click.echo(f"warning: {message}", err=True)
    try:
        out = render_module.write(run, out)
    except render_module.RenderError as err:
        raise click.ClickException(str(err)) from err
    manifests = len(list((out / "manifests").iterdir()))
    click.echo(f"{stack}: {len(run.resources)} resources, {manifests} manifests -> {out}")



@main.command()
@click.option("--stack", required=True, help="Stack name, as in Pulumi.<stack>.yaml.")
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
@click.option("--refresh-prices", is_flag=True,
              help="Read current prices from the provider's public price list (AWS offer "
                   "files, Azure Retail Prices API) instead of the repository's copies.")
@click.pass_obj
def cost(project_dir: Path, stack: str, as_json: bool, refresh_prices: bool) -> None:
    """Estimate what STACK costs per hour and per month, from its resource graph."""
    import json

    from cncfdemo import cost as cost_module
    from cncfdemo import harness
    from cncfdemo.pricing import PricingError

    refresh = None
    if refresh_prices:
        from cncfdemo.pricing import refresh as refresh_module

        # the fetch is looked up now, not when refresh() was defined, so it can be replaced
        refresh = functools.partial(refresh_module.refresh, fetch=refresh_module.fetch_url)
    try:
        estimate = cost_module.estimate_stack(stack, project_dir, refresh=refresh)
    except (stackconfig.StackConfigError, PricingError) as err:
        raise click.ClickException(str(err)) from err
    except harness.ProgramError as err:
        raise click.ClickException(f"stack {stack!r} cannot be rendered:\n\n{err}") from err
    if as_json:
        click.echo(json.dumps(estimate.as_dict(), indent=2))
    else:
        click.echo(cost_module.format_text(estimate), nl=False)


@main.command()
@click.option("--stack", required=True, help="Stack name, as in Pulumi.<stack>.yaml.")
@click.option("--time", "duration", help="How long wrk runs: 90s, 5m, 1h (default: the "
              "stack's benchmarkDuration).")
@click.option("--connections", type=click.IntRange(1), help="Open HTTP connections.")
@click.option("--threads", type=click.IntRange(1), help="wrk threads (at most --connections).")
@click.option("--outputs-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Saved `pulumi stack output --json --show-secrets` (default: ask pulumi).")
@click.option("--prometheus-url", help="Reach Prometheus here (default: the stack's public "
              "URL, else a kubectl port-forward).")
@click.option("--timeout", "timeout_text", default="10m", show_default=True,
              help="How long to wait beyond the run's duration.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Results JSON to write (default: results/<stack>.benchmark.json).")
@click.option("--save-html", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the results as an HTML page.")
@click.pass_obj
def benchmark(project_dir: Path, stack: str, duration: str | None, connections: int | None,
              threads: int | None, outputs_file: Path | None, prometheus_url: str | None,
              timeout_text: str, out: Path | None, save_html: Path | None) -> None:
    """Run the load test on STACK's cluster and save its results."""
    from cncfdemo import benchmark as bench
    from cncfdemo import benchmark_results, compare

    # The client is in the `benchmark` extra, which a plain `pip install -e .` leaves out: say so
    # before the stack's outputs are read, not with a traceback half-way through.
    try:
        import kubernetes  # noqa: F401
    except ImportError as err:
        raise click.ClickException(
            f"cncfdemo benchmark needs the Kubernetes Python client ({err}), which comes with "
            "the project's `benchmark` extra. Install it into this environment: "
            f"`cd {project_dir} && {sys.executable} -m pip install -e '.[benchmark]'`.") from err

    try:
        target = bench.Target.from_outputs(stack, bench.stack_outputs(stack, outputs_file))
        job_name, run_id = bench.new_run_id(stack)
        settings = bench.RunSettings(
            job_name, run_id, bench.parse_duration(duration) if duration else None,
            connections, threads)
        extra = bench.parse_duration(timeout_text)
        batch, core = bench.kubernetes_apis(target.kubeconfig)
        job = bench.start_run(batch, target.namespace, target.cron_job, settings)
        wrk = bench.run_settings(job)
        click.echo(f"{stack}: run {run_id} started as job/{job_name} in {target.namespace} "
                   f"({wrk.get('duration', 0)}s, {wrk.get('connections')} connections, "
                   f"{wrk.get('threads')} threads)")
        pod = bench.follow(batch, core, target.namespace, job_name, wrk.get("duration", 0),
                           wrk.get("duration", 0) + extra, click.echo)
        with bench.prometheus_endpoint(target, prometheus_url, click.echo) as url:
            result = benchmark_results.wait_for_run(url, run_id, stack)
    except (bench.BenchmarkError, benchmark_results.ResultsError) as err:
        raise click.ClickException(str(err)) from err

    saved = benchmark_results.BenchmarkFile(
        result=result, settings={**wrk, "requested": {"time": duration,
                                                      "connections": connections,
                                                      "threads": threads}},
        job={"namespace": target.namespace, "name": job_name, "pod": pod.name if pod else None},
        prometheus_url=url)
    path = saved.save(out or Path("results") / f"{stack}.benchmark.json")
    click.echo(f"{stack}: {result.throughput:,.1f} req/s, p50 {result.p50 * 1000:.1f} ms, "
               f"p99 {result.p99 * 1000:.1f} ms, errors {result.error_rate:.2%} -> {path}")
    if save_html:
        benchmark_results.write_atomically(save_html, compare.render_benchmark_html(saved))
        click.echo(f"{stack}: report -> {save_html}")


@main.command(name="compare")
@click.argument("stacks", nargs=-1, required=True)
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="HTML report to write.")
@click.option("--results", "results_dir", default="results", show_default=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="Folder of <stack>.benchmark.json and <stack>.cost.json files.")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the table as JSON.")
@click.pass_obj
def compare_command(project_dir: Path, stacks: tuple[str, ...], out: Path, results_dir: Path,
                    json_out: Path | None) -> None:
    """Compare STACKS on cost, throughput and latency, as an HTML report with charts."""
    from cncfdemo import compare, harness
    from cncfdemo.benchmark_results import ResultsError
    from cncfdemo.pricing import PricingError

    try:
        rows = compare.gather(list(stacks), results_dir, project_dir)
    except (stackconfig.StackConfigError, PricingError, ResultsError) as err:
        raise click.ClickException(str(err)) from err
    except harness.ProgramError as err:
        raise click.ClickException(f"a stack cannot be rendered:\n\n{err}") from err
    compare.write(rows, out, json_out)
    click.echo(compare.format_text(rows), nl=False)
    click.echo(f"report -> {out}")

if __name__ == "__main__":
    sys.exit(main())
