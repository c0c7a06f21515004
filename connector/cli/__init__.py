"""The ``sms-connector`` command: one module per group of subcommands (``main`` lists them)."""

from connector.cli.main import cli, main

__all__ = ["cli", "main"]
