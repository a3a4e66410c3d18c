"""The rule table (`engine.table`): rules packed by id, and made again on demand.

A deciding rule of a built or loaded engine is re-parsed from its packed list, line and
text; it must be the very `Rule` the parser made, for every syntax, also when one line
made several rules (a hosts line) and when the table was packed from parts
(`pack_scattered`: `Rule`s and plain ABP filter columns, as `scan_abp` builds send).
"""

from __future__ import annotations

from array import array

from trackguard.engine.table import RuleTable, pack_rules, pack_scattered
from trackguard.lists import parse_list
from trackguard.lists.abp import scan_abp
from trackguard.model import Format, Rule

ABP = "[Adblock Plus 2.0]\n||a.example^\n||b.example^$script\n! c\n/ads/*\n||c.example^\n"
HOSTS = "0.0.0.0 h1.example h2.example\n# c\n0.0.0.0 h3.example\n"
TPL = "msFilterList\n-d tpl.example\n+d ok.tpl.example\n"


def _rules() -> list[Rule]:
    return [
        *parse_list(ABP, "a.txt", Format.ABP).rules,
        *parse_list(HOSTS, "h.hosts", Format.HOSTS).rules,
        *parse_list(TPL, "t.tpl", Format.TPL).rules,
    ]


def test_packed_rules_come_back_the_same() -> None:
    rules = _rules()
    table = RuleTable(packed=pack_rules(rules))
    assert len(table) == len(rules)
    assert [table[i] for i in range(len(rules))] == rules
    list_ids, meta, texts = table.pack()
    assert list_ids == ("a.txt", "h.hosts", "t.tpl")
    assert texts.split("\n")[4] == "0.0.0.0 h1.example h2.example"  # a line per rule
    columns = array("i", meta)
    assert columns[4 * 4 : 6 * 4] == array("i", [1, 1, 2, 0, 1, 1, 2, 1])  # 2nd on line 1


def test_a_table_of_rules_packs_like_its_packed_form() -> None:
    rules = _rules()
    assert RuleTable(rules).pack() == pack_rules(rules)
    assert RuleTable(rules)[2] is rules[2]


def test_packed_from_parts_is_packed_from_rules() -> None:
    parsed, plain = scan_abp(ABP, "a.txt")
    hosts = parse_list(HOSTS, "h.hosts", Format.HOSTS).rules
    full = [*parse_list(ABP, "a.txt", Format.ABP).rules, *hosts]
    # ids in line order: plain filters at lines 2, 6 are ids 0 and 3 of the ABP list
    assert plain.lines == [2, 6]
    rule_ids = [1, 2, 4, 5, 6]
    packed = pack_scattered(
        [("a.txt", 4), ("empty.txt", 0), ("h.hosts", 3)],
        [*parsed.rules, *hosts],
        rule_ids,
        [(plain.lines, plain.texts, [0, 3])],
    )
    assert packed == pack_rules(full)
    table = RuleTable(packed=packed)
    assert [table[i] for i in range(len(full))] == full
