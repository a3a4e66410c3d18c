"""The README's "Using it" section and docs/cli.md match the commands' `--help`.

Issue 11, done means: "the README's usage section matches --help" and docs/cli.md
documents every command. Every option the README shows must exist on its command, and
every command and subcommand must appear in docs/cli.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from trackguard.cli import main

REPO = Path(__file__).resolve().parents[2]


def _usage_lines() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using it", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    lines: list[str] = []
    for line in block.splitlines():
        code = line.split("  #", 1)[0].strip()
        if code.startswith("trackguard "):
            lines.append(code)
        elif code.startswith("[") and lines:  # a continued option line
            lines[-1] += " " + code
    return lines


def _command_path(words: list[str]) -> tuple[list[str], click.Command]:
    command: click.Command = main
    path: list[str] = []
    for word in words:
        if not isinstance(command, click.Group):
            break
        names = word.split("|")
        sub = command.commands.get(names[0])
        if sub is None:
            break
        for name in names:  # `enable|disable|remove|show`: every one must exist
            assert name in command.commands, f"README: no command {name!r}"
        path.append(names[0])
        command = sub
    return path, command


def test_readme_usage_matches_help() -> None:
    lines = _usage_lines()
    assert len(lines) > 15
    runner = CliRunner()
    for line in lines:
        for part in line.split(" | "):
            words = part.split()[1:]
            path, _ = _command_path(words)
            assert path, f"README line names no command: {line}"
            help_text = runner.invoke(main, [*path, "--help"]).output
            unquoted = re.sub(r'"[^"]*"', "", part)  # `rule off "-d x"`: a rule, no option
            for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", unquoted):
                assert option in help_text, f"{' '.join(path)}: no option {option}"


def _all_commands(group: click.Group, prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        out.append(full)
        if isinstance(command, click.Group):
            out += _all_commands(command, full + " ")
    return out


def test_docs_cli_mentions_every_command() -> None:
    docs = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in _all_commands(main):
        words = command.split()
        last = words[-1]
        pattern = rf"`{re.escape(' '.join(words[:-1]))}\s*[^`]*\b{re.escape(last)}\b"
        assert re.search(pattern, docs), f"docs/cli.md does not document `{command}`"
