"""List parsers, one module per syntax. Text in, rules and diagnostics out; no I/O.

`parse_list` detects the format from the content when none is given, so a subscription
never has to trust a file name or a Content-Type.
"""

from __future__ import annotations

from trackguard.model import Format, ListRejected, ParsedList, Rule, SourceRef


def parse_list(text: str, list_id: str, format: Format | str | None = None) -> ParsedList:
    """Parse list text of any supported syntax.

    Raises `ListRejected` when the list as a whole is unusable (TPL spec §A.2/§A.10: bad
    header, no valid rule, over the size limits); bad lines only produce diagnostics.
    """
    fmt = Format(format) if isinstance(format, str) else format
    if fmt is None:
        fmt = detect_format(text)
    if fmt is Format.TPL:
        from trackguard.lists.tpl import parse_tpl

        return parse_tpl(text, list_id)
    if fmt is Format.HOSTS:
        from trackguard.lists.hosts import parse_hosts

        return parse_hosts(text, list_id)
    from trackguard.lists.abp import parse_abp

    return parse_abp(text, list_id)


def detect_format(text: str) -> Format:
    """The syntax of list text, judged from its content (see `lists.detect`)."""
    from trackguard.lists.detect import detect_format as detect

    return detect(text)


def parse_line(text: str, list_id: str, line: int, format: Format) -> list[Rule]:
    """Re-parse one rule line exactly as it was parsed inside its list.

    Used by a loaded engine to turn a deciding rule back into a `Rule`; the line was
    valid when the engine was built, with the same parser version.
    """
    if format is Format.ABP:
        from trackguard.lists.abp import parse_abp_line

        return parse_abp_line(text, list_id, line)
    body = "msFilterList\n" + text if format is Format.TPL else text
    try:
        parsed = parse_list(body, list_id, format)
    except ListRejected:
        return []
    shift = line - (2 if format is Format.TPL else 1)
    return [
        r._replace(source=SourceRef(list_id, r.source.line + shift, r.source.text))
        for r in parsed.rules
    ]
