"""Shared value types (`trackguard.model`): frozen values, names, and the JSON/text shapes
other modules and users rely on."""

from __future__ import annotations

import dataclasses

import pytest

from trackguard.model import (
    ALL_TYPES,
    DEFAULT_TYPES,
    Action,
    Decision,
    Diagnostic,
    Format,
    ListRejected,
    ListSource,
    ParsedList,
    Party,
    Request,
    RequestType,
    Rule,
    Severity,
    SourceRef,
    TrackguardError,
)

T = RequestType

BLOCK = Rule(
    Action.BLOCK, SourceRef("easylist.txt", 12, "||ads.example^"), Format.ABP, "ads.example^"
)
ALLOW = Rule(Action.ALLOW, SourceRef("site.tpl", 3, "+d ads.example"), Format.TPL)


# --- enums ----------------------------------------------------------------------------------


def test_enum_values_are_the_cli_and_state_names() -> None:
    assert [f.value for f in Format] == ["tpl", "abp", "hosts"]
    assert [a.value for a in Action] == ["block", "allow"]
    assert [s.value for s in Severity] == ["error", "warning", "notice"]
    assert [p.value for p in Party] == ["any", "first", "third"]


def test_request_types_are_distinct_bits() -> None:
    values = [t.value for t in RequestType]
    assert len(values) == 13
    assert all(v & (v - 1) == 0 for v in values)  # one bit each
    assert int(ALL_TYPES) == sum(values)
    assert DEFAULT_TYPES == ALL_TYPES & ~(T.DOCUMENT | T.POPUP)


TYPE_NAMES = [
    ("script", T.SCRIPT),
    ("SCRIPT", T.SCRIPT),
    (" image ", T.IMAGE),
    ("stylesheet", T.STYLESHEET),
    ("css", T.STYLESHEET),
    ("xmlhttprequest", T.XMLHTTPREQUEST),
    ("xhr", T.XMLHTTPREQUEST),
    ("fetch", T.XMLHTTPREQUEST),
    ("subdocument", T.SUBDOCUMENT),
    ("sub_frame", T.SUBDOCUMENT),
    ("frame", T.SUBDOCUMENT),
    ("iframe", T.SUBDOCUMENT),
    ("main_frame", T.DOCUMENT),
    ("document", T.DOCUMENT),
    ("beacon", T.PING),
    ("ping", T.PING),
    ("imageset", T.IMAGE),
    ("object_subrequest", T.OBJECT),
    ("object-subrequest", T.OBJECT),
    ("websocket", T.WEBSOCKET),
    ("popup", T.POPUP),
    ("font", T.FONT),
    ("media", T.MEDIA),
    ("other", T.OTHER),
    ("", T.OTHER),
    ("no-such-type", T.OTHER),
]


@pytest.mark.parametrize(("name", "flag"), TYPE_NAMES)
def test_request_type_parse(name: str, flag: RequestType) -> None:
    assert RequestType.parse(name) is flag


# --- frozen values --------------------------------------------------------------------------

VALUES = [
    Diagnostic("l", 1, Severity.ERROR, "abp.unknown-option", "m"),
    ParsedList("l", Format.ABP, (), ()),
    ListSource("l", "text"),
    Request("https://x.test/"),
    Decision(False),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_values_are_frozen_with_slots(value: object) -> None:
    assert dataclasses.is_dataclass(value)
    field = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)
    assert not hasattr(value, "__dict__")


def test_rule_is_immutable_without_a_dict() -> None:
    """`Rule` and `SourceRef` are NamedTuples (built 100k times per engine build)."""
    with pytest.raises(AttributeError):
        BLOCK.pattern = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        BLOCK.source.line = 2  # type: ignore[misc]
    assert not hasattr(BLOCK, "__dict__") and not hasattr(BLOCK.source, "__dict__")
    assert BLOCK._replace(pattern="x").pattern == "x" and BLOCK.pattern == "ads.example^"


def test_values_compare_and_hash_by_content() -> None:
    again = Rule(
        Action.BLOCK, SourceRef("easylist.txt", 12, "||ads.example^"), Format.ABP, "ads.example^"
    )
    assert again == BLOCK and hash(again) == hash(BLOCK)
    assert BLOCK._replace(important=True) != BLOCK


def test_rule_defaults() -> None:
    assert BLOCK.types == DEFAULT_TYPES
    assert BLOCK.party is Party.ANY
    assert (BLOCK.include_domains, BLOCK.exclude_domains, BLOCK.denyallow) == ((), (), ())
    assert (BLOCK.removeparam, BLOCK.redirect, BLOCK.regex) == (None, None, None)
    assert not BLOCK.is_exception
    assert ALLOW.is_exception


def test_request_defaults() -> None:
    assert Request("https://x.test/") == Request("https://x.test/", None, RequestType.OTHER)


def test_parsed_lists_do_not_share_mutable_defaults() -> None:
    a = ParsedList("a", Format.ABP, (), ())
    b = ParsedList("b", Format.ABP, (), ())
    a.skipped["cosmetic"] = 1
    a.metadata["title"] = "A"
    assert (b.skipped, b.metadata) == ({}, {})


# --- Decision -------------------------------------------------------------------------------


def test_decision_names_its_rule() -> None:
    decision = Decision(True, BLOCK, None, "third-party request matched a block rule")
    assert (decision.rule, decision.list, decision.line) == ("||ads.example^", "easylist.txt", 12)


def test_decision_without_rule() -> None:
    decision = Decision(False, reason="no rule matched")
    assert (decision.rule, decision.list, decision.line) == (None, None, None)
    assert decision.to_json() == {
        "blocked": False,
        "rule": None,
        "list": None,
        "line": None,
        "action": None,
        "overridden": None,
        "reason": "no rule matched",
    }


def test_decision_to_json_with_override() -> None:
    decision = Decision(False, ALLOW, BLOCK, "an allow rule overrides the block rule")
    assert decision.to_json() == {
        "blocked": False,
        "rule": "+d ads.example",
        "list": "site.tpl",
        "line": 3,
        "action": "allow",
        "overridden": {"rule": "||ads.example^", "list": "easylist.txt", "line": 12},
        "reason": "an allow rule overrides the block rule",
    }


def test_decision_to_json_block() -> None:
    data = Decision(True, BLOCK, None, "r").to_json()
    assert (data["blocked"], data["action"], data["overridden"]) == (True, "block", None)


# --- Diagnostic text and errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("diagnostic", "text"),
    [
        (
            Diagnostic(
                "easylist.txt", 7, Severity.ERROR, "abp.unknown-option", "unknown option `x`"
            ),
            "easylist.txt:7: error: unknown option `x` [abp.unknown-option]",
        ),
        (
            Diagnostic("a.tpl", 0, Severity.WARNING, "tpl.no-rules", "whole list"),
            "a.tpl: warning: whole list [tpl.no-rules]",
        ),
        (
            Diagnostic("h", 2, Severity.NOTICE, "hosts.local-entry", "skipped"),
            "h:2: notice: skipped [hosts.local-entry]",
        ),
    ],
)
def test_diagnostic_str(diagnostic: Diagnostic, text: str) -> None:
    assert str(diagnostic) == text


def test_list_rejected_is_a_user_facing_error() -> None:
    assert issubclass(ListRejected, TrackguardError)
    assert issubclass(TrackguardError, Exception)
    with pytest.raises(TrackguardError, match="bad list"):
        raise ListRejected("bad list")
