"""`engine.costs`: `lint` names expensive filters, and none in EasyList + EasyPrivacy."""

from __future__ import annotations

from trackguard.engine import Engine


def test_lint_names_costly_filters() -> None:
    text = "\n".join(
        [
            "||ads.example^",
            "/a*b*c*d*e*f*g*h*i*j/x",
            "*" + "/^" * 40 + "x",
            "*ab^*",
        ]
    )
    engine = Engine.from_text(text + "\n", "abp")
    found = {(d.line, d.code) for d in engine.lint()}
    assert (2, "engine.costly-filter") in found
    assert (3, "engine.costly-filter") in found
    assert (4, "engine.unindexed-filter") in found
    assert not any(line == 1 for line, _ in found)


def test_real_lists_have_no_expensive_filter(easylist_easyprivacy: Engine) -> None:
    assert [d for d in easylist_easyprivacy.lint() if d.code != "engine.over-budget"] == []


def test_heavy_domain_list_is_a_notice() -> None:
    domains = "|".join(f"d{i}.example" for i in range(1001))
    engine = Engine.from_text(f"/ads/banner^$domain={domains}\n", "abp")
    assert [d.code for d in engine.lint()] == ["engine.heavy-domains"]
