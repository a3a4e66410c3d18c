"""`trackguard.cli.common`: durations, and tables that keep their keys at 80 columns."""

from __future__ import annotations

import click
import pytest
from rich.console import Console

from trackguard.cli.common import add_row, parse_duration, table


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("24h", 86400), ("2w", 1209600), ("5", 5)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_refuses_nonsense() -> None:
    with pytest.raises(click.BadParameter, match="not a duration"):
        parse_duration("soon")


def test_a_table_never_cuts_its_keys_and_folds_the_rest() -> None:
    console = Console(width=80, record=True)
    t = table([("Short name", False), ("What it blocks", True)])
    add_row(t, "adguard-tracking-protection", "[b]not markup[/b] " + "word " * 30)
    console.print(t)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "adguard-tracking-protection" in text  # the key, whole
    assert "[b]not markup[/b]" in text  # list text is printed as it is
    assert text.splitlines()[0].split() == ["Short", "name", "What", "it", "blocks"]
