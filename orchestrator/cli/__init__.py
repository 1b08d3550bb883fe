"""The command line: `orchestrator` and its groups (the configuration commands come from
the API package through the `orchestrator.commands` entry point)."""

from orchestrator.cli.main import main

__all__ = ["main"]
