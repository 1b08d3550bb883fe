"""Key commands of the ``orchestrator`` CLI: key add|list|revoke (named keys with a scope)."""

from __future__ import annotations

import click

from orchestrator.errors import OrchestratorError
from orchestrator.storage import api_keys

SCOPES_HELP = "; ".join(f"{scope}: {text}" for scope, text in api_keys.SCOPE_HELP.items())


@click.group("key")
def key() -> None:
    """Named API keys with a scope, besides ORCH_API_KEY (admin)."""


@key.command("add")
@click.argument("name")
@click.option("--scope", type=click.Choice(api_keys.SCOPES), required=True, help=SCOPES_HELP + ".")
def key_add(name: str, scope: str) -> None:
    """Make a key and print it, once: only its hash is kept."""
    try:
        info, secret = api_keys.add(name, scope)
    except OrchestratorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(secret)
    click.echo(
        f"made key {info.name} (scope {info.scope}): this is the only time it is shown",
        err=True,
    )


@key.command("list")
def key_list() -> None:
    """Every named key: name, scope, first characters, made, last used (never the key)."""
    rows = api_keys.all_keys()
    if not rows:
        click.echo("no named keys (ORCH_API_KEY is the admin key): orchestrator key add NAME")
        return
    click.echo(f"{'NAME':20} {'SCOPE':9} {'KEY':12} {'CREATED':20} LAST USED")
    for info in rows:
        used = info.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if info.last_used_at else "never"
        made = info.created_at.strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{info.name:20} {info.scope:9} {info.hint + '…':12} {made:20} {used}")


@key.command("revoke")
@click.argument("name")
def key_revoke(name: str) -> None:
    """Revoke the key NAME: it opens nothing from now on."""
    try:
        info = api_keys.revoke(name)
    except OrchestratorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked key {info.name} (scope {info.scope})")
