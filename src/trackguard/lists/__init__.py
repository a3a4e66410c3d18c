"""List parsers, one module per syntax. Text in, rules and diagnostics out; no I/O.

`parse_list` detects the format from the content when none is given, so a subscription
never has to trust a file name or a Content-Type.
"""

from __future__ import annotations

from trackguard.model import Format, ParsedList


def parse_list(text: str, list_id: str, format: Format | str | None = None) -> ParsedList:
    """Parse list text of any supported syntax.

    Raises `ListRejected` when the list as a whole is unusable (TPL spec §A.2/§A.10: bad
    header, no valid rule, over the size limits); bad lines only produce diagnostics.
    """
    from trackguard.lists import abp, hosts, tpl
    from trackguard.lists.detect import detect_format

    fmt = Format(format) if isinstance(format, str) else format
    if fmt is None:
        fmt = detect_format(text)
    if fmt is Format.TPL:
        return tpl.parse_tpl(text, list_id)
    if fmt is Format.HOSTS:
        return hosts.parse_hosts(text, list_id)
    return abp.parse_abp(text, list_id)
