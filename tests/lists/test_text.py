"""One line splitter for every list format: LF, CRLF and CR end a line, nothing else."""

from __future__ import annotations

import pytest

from trackguard.engine import Engine
from trackguard.lists import parse_list
from trackguard.lists.text import split_lines, utf8_size
from trackguard.model import Format

#: Characters `str.splitlines` breaks on that are not line ends in a list (§A.3).
NOT_LINE_ENDS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("char", NOT_LINE_ENDS)
def test_split_lines_only_breaks_on_lf_crlf_cr(char: str) -> None:
    assert split_lines(f"a{char}b\nc\r\nd\re\n") == [f"a{char}b", "c", "d", "e"]


def test_split_lines_drops_bom_and_final_line_end_only() -> None:
    assert split_lines("\ufeffa\n\nb\n\n") == ["a", "", "b", ""]
    assert split_lines("") == [""]


@pytest.mark.parametrize("char", NOT_LINE_ENDS)
def test_abp_comment_cannot_smuggle_a_rule(char: str) -> None:
    """`! harmless<VT>||google.com^` is one comment line, not a comment plus a rule."""
    text = f"||ads.example^\n! harmless{char}||google.com^\n||track.example^\n"
    parsed = parse_list(text, "l", Format.ABP)
    assert [(r.source.line, r.pattern) for r in parsed.rules] == [
        (1, "ads.example^"),
        (3, "track.example^"),
    ]
    engine = Engine.from_text(text, "abp")
    assert not engine.check("https://google.com/").blocked
    decision = engine.check("https://track.example/x")
    assert decision.blocked and decision.line == 3


@pytest.mark.parametrize("char", NOT_LINE_ENDS)
@pytest.mark.parametrize(
    ("fmt", "head", "comment", "rule", "host"),
    [
        (Format.ABP, "", "! c", "||track.example^", "track.example"),
        (Format.TPL, "msFilterList\n", "# c", "-d track.example", "track.example"),
        (Format.HOSTS, "", "# c", "0.0.0.0 track.example", "track.example"),
    ],
)
def test_every_format_numbers_lines_alike(
    char: str, fmt: Format, head: str, comment: str, rule: str, host: str
) -> None:
    text = f"{head}{comment}{char}0.0.0.0 google.com\r{comment}\r\n{rule}\n"
    parsed = parse_list(text, "l", fmt)
    assert [r.source.line for r in parsed.rules] == [3 + head.count("\n")]
    engine = Engine.from_text(text, fmt)
    assert engine.check(f"https://{host}/").blocked
    assert not engine.check("https://google.com/").blocked


def test_utf8_size_counts_bytes() -> None:
    assert utf8_size("abc") == 3
    assert utf8_size("é") == 2
    assert utf8_size("\U0001f600") == 4
