"""Rule shapes every exporter asks about, read from `model.Rule` alone.

The exporters must decide exactly as the engine does, yet must not depend on engine
internals (which change in parallel): the few engine behaviours they need (`$badfilter`
identity, what `||host^` means) are restated here from the rule model and the list
syntaxes (TPL spec §A.5, Adblock Plus filter syntax). No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from trackguard.export.report import RuleOutcome, dropped
from trackguard.model import Action, Anchor, Format, HostMode, Party, Rule

HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_")


def badfilter_key(text: str) -> str:
    """A filter's identity for `$badfilter`: its text with options in a canonical order."""
    at = text.rfind("$")
    if at < 0:
        return text
    options = sorted(o.strip() for o in text[at + 1 :].split(",") if o.strip() != "badfilter")
    return text[:at] + ("$" + ",".join(options) if options else "")


def prepare(
    rules: Iterable[Rule], disabled: frozenset[str] = frozenset()
) -> tuple[list[Rule], list[RuleOutcome]]:
    """Apply `$badfilter` across all lists and the user's switched-off rules, as the
    engine does before compiling: (rules to export, outcomes of the others)."""
    pending = list(rules)
    bad = {badfilter_key(r.source.text) for r in pending if r.badfilter}
    keep: list[Rule] = []
    gone: list[RuleOutcome] = []
    for rule in pending:
        if rule.badfilter:
            gone.append(dropped(rule, "badfilter"))
        elif bad and badfilter_key(rule.source.text) in bad:
            gone.append(dropped(rule, "disabled-by-badfilter"))
        elif disabled and rule.source.text in disabled:
            gone.append(dropped(rule, "disabled-by-user"))
        else:
            keep.append(rule)
    return keep, gone


def is_plain_host(host: str) -> bool:
    return bool(host) and host[0] != "." and host[-1] != "." and all(c in HOST_CHARS for c in host)


def suffix_host(rule: Rule) -> str | None:
    """The host when the rule matches every URL whose host is `host` or a subdomain of it,
    and nothing else about the URL matters: `||host^`, TPL `+d host`, hosts entries."""
    if rule.regex is not None:
        return None
    if rule.host_mode is HostMode.SUFFIX and not rule.pattern:
        return rule.host
    if rule.syntax is Format.ABP and rule.anchor is Anchor.HOST and rule.pattern.endswith("^"):
        host = rule.pattern[:-1].lower()
        if is_plain_host(host):
            return host
    return None


def context_free(rule: Rule, *, types_must_cover: int) -> bool:
    """No page, party, type or request-host condition narrows the rule."""
    return (
        rule.party is Party.ANY
        and not rule.include_domains
        and not rule.exclude_domains
        and not rule.denyallow
        and int(rule.types) & types_must_cover == types_must_cover
        and rule.removeparam is None
    )


def tpl_pattern_follows_host(host: str, pattern: str) -> bool:
    """True when a TPL `-d host pattern` pattern can only match after the host ends.

    TPL matches the domain (a label run of the host, §A.5.1) and the pattern (anywhere in
    the URL text, §A.5.2) independently. Targets that express both in one left-to-right
    pattern need the pattern to start after the host. That holds for a pattern that
    starts with `/` unless it could start at the second slash of `://` (then it would run
    through the host): that needs the text after `/` to be host characters that form a
    host containing the domain's labels.
    """
    if not pattern.startswith("/") or pattern.startswith("//"):
        return False
    first = pattern[1:].split("*", 1)[0]
    end = 0
    while end < len(first) and first[end] in HOST_CHARS:
        end += 1
    if end == len(first):
        # The first piece is all host characters: it may be the start of the host.
        return end == 0 and "*" not in pattern[1:2]
    if first[end] not in "/:":
        return True  # a host is never followed by this character
    candidate = "." + first[:end].lower() + "."
    return ("." + host + ".") not in candidate


def is_tpl_block_host(rule: Rule) -> bool:
    return rule.syntax is Format.TPL and rule.action is Action.BLOCK and bool(rule.host)
