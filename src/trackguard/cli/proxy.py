"""CLI commands: proxy (placeholder until its module lands)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
