"""Guess a list's syntax (TPL, Adblock Plus, hosts) from its text.

A subscription never trusts a file name or a Content-Type (TPL spec §A.9: "the header
line decides"), so `parse_list` asks here when no format is given. No I/O here, and no
full scan: only the start of the text is read, so a 4 MB list costs microseconds.

Rules, in order:
1. The first non-blank line (after a BOM) is `msFilterList` in any letter case -> TPL.
   Detection is deliberately case-insensitive although the header is case-sensitive
   (§A.3): a `msfilterlist` file then reaches `parse_tpl`, which rejects it with a
   "the header is case-sensitive" message, instead of loading as a nonsense ABP list.
2. The first non-blank line is a `[...]` header (`[Adblock Plus 2.0]`, `[uBlock Origin]`)
   -> ABP.
3. Otherwise the first `SAMPLE_LINES` rule-like lines vote: `address host...` lines and
   lone host names are hosts-style, anything else (`||`, `@@`, `##`, `$`, `/.../`, paths)
   is Adblock Plus style; `!` and `#` comments do not vote (but `##`, `#@#`... do).
   At least 90 % hosts-style votes -> HOSTS, so a stray line does not flip a hosts file.
4. No vote at all (empty, comments only) -> ABP, the most common syntax.

`decode_list_bytes` is the one gate every entry point (subscriptions, `lint`, `check
--list`, `proxy --list`) passes list bytes through: UTF-8 only (§A.9), and a web page or
a UTF-16 file is refused with a hint, never parsed into nonsense rules.
"""

from __future__ import annotations

from collections.abc import Iterator

from trackguard.lists.text import normalize_host, split_lines
from trackguard.model import Format, ListRejected

__all__ = ["SAMPLE_CHARS", "SAMPLE_LINES", "NotAList", "decode_list_bytes", "detect_format"]

#: Rule-like lines that vote; enough to see past a long header of comments.
SAMPLE_LINES = 400
#: Never read further than this into the text, whatever it contains.
SAMPLE_CHARS = 1 << 20

#: `tpl.HEADER` (§A.3), spelled here so that telling an ABP list apart never loads the
#: TPL parser (nor the hosts one, imported by `_hosts_style` when a line votes): a few
#: ms of every EasyList-only start. `test_detect` checks the two agree.
HEADER = "msFilterList"

_ABP_COMMENT_LIKE = ("##", "#@#", "#?#", "#$#", "#%#", "#@$#", "#@?#")


def detect_format(text: str) -> Format:
    """The syntax of list text, judged from its start (see the module docstring)."""
    start = 1 if text.startswith("\ufeff") else 0
    hosts_votes = 0
    abp_votes = 0
    first = True
    for raw in _sample_lines(text, start):
        line = raw.strip()
        if not line:
            continue
        if first:
            first = False
            if line[: len(HEADER)].lower() == HEADER.lower():
                return Format.TPL
            if line.startswith("[") and line.endswith("]"):
                return Format.ABP
        head = line[0]
        if head == "!":
            continue
        if head == "#":
            if line.startswith(_ABP_COMMENT_LIKE):
                abp_votes += 1
            continue
        if _hosts_style(line):
            hosts_votes += 1
        else:
            abp_votes += 1
        if hosts_votes + abp_votes >= SAMPLE_LINES:
            break
    if hosts_votes and hosts_votes * 10 >= (hosts_votes + abp_votes) * 9:
        return Format.HOSTS
    return Format.ABP


#: The sample is split this much at a time: most lists are settled by their first line
#: (`[Adblock Plus 2.0]`, `msFilterList`), and splitting a whole MiB for it took 15 ms.
_CHUNK_CHARS = 1 << 14


def _sample_lines(text: str, start: int) -> Iterator[str]:
    """Lines of the first `SAMPLE_CHARS` characters, split as the parsers split them.

    Split a chunk at a time, each cut just after an LF, which ends a line in every
    splitting (LF or CRLF); the "\n" put before a later chunk keeps `split_lines` from
    taking a U+FEFF there for a BOM, and is dropped with the empty line it makes.
    """
    sample = text[start : start + SAMPLE_CHARS]
    cut = sample.rfind("\n", 0, _CHUNK_CHARS) + 1 or len(sample)
    yield from split_lines(sample[:cut])
    while cut < len(sample):
        head = cut
        cut = sample.rfind("\n", head, head + _CHUNK_CHARS) + 1
        if cut <= head:  # no LF in this chunk (a huge line): the rest in one go
            cut = len(sample)
        yield from split_lines("\n" + sample[head:cut])[1:]


def _hosts_style(line: str) -> bool:
    """`0.0.0.0 ads.example  # c`, `::1 a b`, or a lone `ads.example` / address."""
    from trackguard.lists.hosts import classify_address

    hash_at = line.find("#")
    if hash_at >= 0:
        line = line[:hash_at]
    tokens = line.split()
    if not tokens:  # `address # comment` cut to nothing cannot happen; be safe
        return False
    if len(tokens) > 1:
        return classify_address(tokens[0]) is not None
    token = tokens[0]
    if classify_address(token) is not None:
        return True
    # A lone host name: needs a dot, so ABP fragments like `-ad-banner-` do not count.
    if "." not in token or token[0] in ".-" or token[-1] == "-":
        return False
    return bool(normalize_host(token)[0])


class NotAList(ListRejected):
    """Bytes that are no list at all (a web page, UTF-16, binary); `code` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


#: How a web page starts; captive portals and error pages answer 200 with one.
_MARKUP_STARTS = ("<!doctype", "<html", "<head", "<body", "<?xml", "<!--", "<meta", "<title")


def decode_list_bytes(body: bytes) -> str:
    """List text from bytes (a UTF-8 BOM is dropped), or `NotAList` saying what it is."""
    sample = body[:64]
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or (
        len(sample) >= 4 and (not any(sample[1::2]) or not any(sample[0::2]))
    ):
        raise NotAList(
            "list.utf16",
            "the list is UTF-16 text; lists must be UTF-8 (TPL spec §A.9). Convert it, "
            "e.g. `iconv -f UTF-16 -t UTF-8 IN > OUT`, or save it as UTF-8",
        )
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotAList(
            "list.not-utf8",
            f"the list is not UTF-8 text (bad byte at offset {exc.start}); "
            "lists must be UTF-8 (TPL spec §A.9)",
        ) from None
    head = text[:1024].lstrip().lower()
    if head.startswith(_MARKUP_STARTS) or "<html" in text[:4096].lower():
        raise NotAList(
            "list.html",
            "this is a web page (HTML), not a list: a login/captive portal, an error "
            "page, or the list's home page instead of its download address?",
        )
    if "\0" in text[:4096]:
        raise NotAList("list.binary", "this is a binary file, not a list")
    return text
