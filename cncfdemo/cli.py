"""`cncfdemo`: what Pulumi does not do for this project, from the same program and stack files."""

from __future__ import annotations

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
    except stackconfig.UnknownStackError as err:
        raise click.ClickException(str(err)) from err
    except harness.ProgramError as err:
        raise click.ClickException(f"stack {stack!r} cannot be rendered:\n\n{err}") from err


@main.command()
@click.option("--stack", required=True, help="Stack name, as in Pulumi.<stack>.yaml.")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder to write (replaced if it exists).")
@click.pass_obj
def render(project_dir: Path, stack: str, out: Path) -> None:
    """Write what `pulumi up` would submit for STACK, offline, with secrets masked."""
    from cncfdemo import render as render_module

    run = run_stack(project_dir, stack)
    for message in run.warnings:
        click.echo(f"warning: {message}", err=True)
    render_module.write(run, out)
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
        from cncfdemo.pricing.refresh import refresh
    try:
        estimate = cost_module.estimate_stack(stack, project_dir, refresh=refresh)
    except (stackconfig.UnknownStackError, PricingError) as err:
        raise click.ClickException(str(err)) from err
    except harness.ProgramError as err:
        raise click.ClickException(f"stack {stack!r} cannot be rendered:\n\n{err}") from err
    if as_json:
        click.echo(json.dumps(estimate.as_dict(), indent=2))
    else:
        click.echo(cost_module.format_text(estimate), nl=False)

if __name__ == "__main__":
    sys.exit(main())
