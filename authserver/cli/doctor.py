"""``authserver doctor``: the production checks, printed without starting anything."""

from __future__ import annotations

import sys

import click

from authserver.cli.output import emit, json_option
from authserver.keys.kek import FileKekSource, kek_source_for
from authserver.platform.checks import mode_checks, production_checks
from authserver.platform.config import load_settings, unknown_variables
from authserver.platform.private_files import database_paths


@click.command("doctor")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@json_option
def doctor_command(workers: int, as_json: bool) -> None:
    """Check the settings against what production requires, and that the database and key
    files are private; exit 1 if any check fails."""
    settings = load_settings()
    source = kek_source_for(settings)
    private = database_paths(settings)
    if isinstance(source, FileKekSource):
        private += source.private_paths()
    checks = production_checks(settings, workers) + mode_checks(private)
    failed = sum(not c.ok for c in checks)
    # Ignored, so not a problem of the settings, but most likely a misspelt one.
    warnings = unknown_variables()
    if as_json:
        emit({"environment": settings.env, "problems": failed, "warnings": warnings,
              "checks": [{"name": c.name, "ok": c.ok, "problem": None if c.ok else c.problem}
                         for c in checks]}, True, "")  # fmt: skip
        sys.exit(1 if failed else 0)
    for check in checks:
        click.echo(f"{'ok     ' if check.ok else 'PROBLEM'}  {check.name}")
        if not check.ok:
            click.echo(f"         {check.problem}")
    for warning in warnings:
        click.echo(f"WARNING  {warning}; it is ignored")
    click.echo(f"environment: {settings.env}; {failed} problem(s)")
    sys.exit(1 if failed else 0)
