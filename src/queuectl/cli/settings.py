"""`queuectl config`: the effective settings and where each came from (secrets masked)."""

from __future__ import annotations

import typer

from queuectl.cli.base import handle_errors, state
from queuectl.cli.render import emit_json, line


def config(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout.")
) -> None:
    """Show every setting's effective value and its source: flag, env, queuectl.toml or default."""
    _config(ctx, as_json)


@handle_errors
def _config(ctx: typer.Context, as_json: bool) -> None:
    from queuectl.infra.config import config_path, describe
    from queuectl.infra.embedded import layout

    settings = state(ctx).settings()
    backend = None if settings.redis_url else f"embedded default ({layout().url})"
    rows = describe(settings, backend)
    path = config_path()
    if as_json:
        emit_json({"config_file": str(path) if path else None, "settings": rows})
        return
    width = max(len(r["name"]) for r in rows)
    vwidth = max(len(str(r["value"])) for r in rows)
    line(f"config file: {path or 'none (./queuectl.toml or QUEUECTL_CONFIG)'}")
    for r in rows:
        line(f"{r['name'].ljust(width)}  {str(r['value']).ljust(vwidth)}  ({r['source']}; env {r['env']})")
