"""Hand-written interaction cases, the input of `build_interaction_cases.py`.

Each case names the lists, the request and the expected verdict with the deciding rule,
and cites where the expectation comes from. Most are rules that must NOT match, and
exceptions, `$important`, `$badfilter` and `$domain=` meeting other rules: the shapes the
single-filter vectors of the corpus hardly cover. The builder adds adblock-rust's verdict
for every ABP-only case and writes everything to `interaction_cases.json`.
"""

from __future__ import annotations

from typing import Any

SITE = "https://www.site.test/"
OTHER = "https://other.test/"

# Sources cited below.
ABP_EXC = "ABP filter docs, exception rules (@@) and options; adblock-rust agrees"
ABP_IMP = "uBO/adblock-rust $important: an exception cannot lift it; other exceptions still work"
ABP_BAD = "uBO/adblock-rust $badfilter: cancels the exactly identical filter, nothing else"
ABP_DOM = "ABP filter docs, $domain= (subdomains included, ~ excludes, most specific wins)"
ABP_PARTY = "ABP filter docs, $third-party / $~third-party (site = eTLD+1)"
ABP_ANCHOR = "ABP filter docs, anchors || | and the ^ separator"
TPL_A6 = "TPL spec §A.6 table"
TPL_A8 = "TPL spec §A.8 (allow beats block, across lists, order never matters)"


def case(
    id: str,
    source: str,
    lists: dict[str, list[str]],
    url: str,
    source_url: str | None,
    type: str,
    blocked: bool,
    rule: str | None,
    overridden: str | None = None,
    adblock_differs: str | None = None,
) -> dict[str, Any]:
    """`adblock_differs`: why adblock-rust decides otherwise (checked: it must differ)."""
    return {
        "id": id,
        "source": source,
        "lists": lists,
        "url": url,
        "source_url": source_url,
        "type": type,
        "blocked": blocked,
        "rule": rule,
        "overridden": overridden,
        "adblock_differs": adblock_differs,
    }


def abp(*lines: str) -> dict[str, list[str]]:
    return {"test.txt": ["[Adblock Plus 2.0]", *lines]}


IMPORTANT = abp("||a.test^", "||a.test/x$important", "@@||a.test^")
HAND_CASES: list[dict[str, Any]] = [
    # -- $important with other rules (issue 17.4) ------------------------------------------
    case("important-beats-exception-with-another-block", ABP_IMP, IMPORTANT,
         "https://a.test/x", SITE, "script", True, "||a.test/x$important"),
    case("exception-still-lifts-the-plain-block", ABP_IMP, IMPORTANT,
         "https://a.test/y", SITE, "script", False, "@@||a.test^", "||a.test^"),
    case("important-order-does-not-matter", ABP_IMP,
         abp("@@||a.test^", "||a.test/x$important", "||a.test^"),
         "https://a.test/x/1.js", SITE, "script", True, "||a.test/x$important"),
    case("important-with-domain-applies-on-its-site", ABP_IMP,
         abp("||a.test^", "||a.test^$important,domain=site.test", "@@||a.test^"),
         "https://a.test/p.gif", SITE, "image", True, "||a.test^$important,domain=site.test"),
    case("important-with-domain-not-elsewhere", ABP_IMP,
         abp("||a.test^", "||a.test^$important,domain=site.test", "@@||a.test^"),
         "https://a.test/p.gif", OTHER, "image", False, "@@||a.test^", "||a.test^"),
    case("important-with-type-other-type-lifted", ABP_IMP,
         abp("||a.test^", "||a.test^$important,script", "@@||a.test^"),
         "https://a.test/p.gif", SITE, "image", False, "@@||a.test^", "||a.test^"),
    case("important-with-type-own-type-kept", ABP_IMP,
         abp("||a.test^", "||a.test^$important,script", "@@||a.test^"),
         "https://a.test/t.js", SITE, "script", True, "||a.test^$important,script"),
    case("important-third-party-spares-first-party", ABP_IMP,
         abp("||a.test^$important,third-party"),
         "https://cdn.a.test/t.js", "https://a.test/", "script", False, None),
    # -- exceptions ----------------------------------------------------------------------------
    case("exception-on-its-domain", ABP_EXC, abp("||t.test^", "@@||t.test^$domain=site.test"),
         "https://t.test/a.js", SITE, "script", False, "@@||t.test^$domain=site.test", "||t.test^"),
    case("exception-on-a-subdomain-of-its-domain", ABP_EXC,
         abp("||t.test^", "@@||t.test^$domain=site.test"),
         "https://t.test/a.js", "https://shop.site.test/", "script", False,
         "@@||t.test^$domain=site.test", "||t.test^"),
    case("exception-not-on-another-domain", ABP_EXC,
         abp("||t.test^", "@@||t.test^$domain=site.test"),
         "https://t.test/a.js", OTHER, "script", True, "||t.test^"),
    case("exception-not-on-a-lookalike-domain", ABP_EXC,
         abp("||t.test^", "@@||t.test^$domain=site.test"),
         "https://t.test/a.js", "https://notsite.test/", "script", True, "||t.test^"),
    case("exception-needs-a-page-for-its-domain", ABP_EXC,
         abp("||t.test^", "@@||t.test^$domain=site.test"),
         "https://t.test/a.js", None, "script", True, "||t.test^"),
    case("exception-for-images-only-lifts-images", ABP_EXC, abp("||e.test^", "@@||e.test^$image"),
         "https://e.test/p.png", SITE, "image", False, "@@||e.test^$image", "||e.test^"),
    case("exception-for-images-only-not-scripts", ABP_EXC, abp("||e.test^", "@@||e.test^$image"),
         "https://e.test/t.js", SITE, "script", True, "||e.test^"),
    case("exception-with-path-lifts-that-path", ABP_EXC, abp("||e.test^", "@@||e.test/ok/"),
         "https://e.test/ok/w.js", SITE, "script", False, "@@||e.test/ok/", "||e.test^"),
    case("exception-with-path-not-other-paths", ABP_EXC, abp("||e.test^", "@@||e.test/ok/"),
         "https://e.test/okay/w.js", SITE, "script", True, "||e.test^"),
    case("exception-without-a-block-is-no-match", ABP_EXC, abp("@@||e.test^"),
         "https://e.test/w.js", SITE, "script", False, None),
    case("exception-first-party-only", ABP_EXC, abp("||e.test^", "@@||e.test^$~third-party"),
         "https://e.test/w.js", "https://e.test/", "script", False, "@@||e.test^$~third-party",
         "||e.test^"),
    case("exception-first-party-only-not-third", ABP_EXC,
         abp("||e.test^", "@@||e.test^$~third-party"),
         "https://e.test/w.js", SITE, "script", True, "||e.test^"),
    case("document-exception-lifts-blocks-on-the-page", ABP_EXC,
         abp("||t.test^", "@@||site.test^$document"),
         "https://t.test/a.js", SITE, "script", False, "@@||site.test^$document", "||t.test^",
         "adblock-rust leaves `$document` to the browser, which checks the page itself; "
         "`check_network_urls` never applies it to the page's subresources"),
    case("document-exception-not-on-other-pages", ABP_EXC,
         abp("||t.test^", "@@||site.test^$document"),
         "https://t.test/a.js", OTHER, "script", True, "||t.test^"),
    # -- $badfilter ------------------------------------------------------------------------------
    case("badfilter-cancels-the-identical-filter", ABP_BAD, abp("||b.test^", "||b.test^$badfilter"),
         "https://b.test/x.js", SITE, "script", False, None),
    case("badfilter-leaves-a-different-filter", ABP_BAD,
         abp("||b.test^$script", "||b.test^$badfilter"),
         "https://b.test/x.js", SITE, "script", True, "||b.test^$script"),
    case("badfilter-leaves-other-blocks-of-the-host", ABP_BAD,
         abp("||b.test^", "||b.test/ads/", "||b.test^$badfilter"),
         "https://b.test/ads/1.js", SITE, "script", True, "||b.test/ads/"),
    case("badfilter-of-an-exception-restores-the-block", ABP_BAD,
         abp("||c.test^", "@@||c.test/ok", "@@||c.test/ok$badfilter"),
         "https://c.test/ok.js", SITE, "script", True, "||c.test^"),
    case("badfilter-of-an-important-rule", ABP_BAD,
         abp("||d.test^", "||d.test^$important", "||d.test^$important,badfilter", "@@||d.test^"),
         "https://d.test/x.js", SITE, "script", False, "@@||d.test^", "||d.test^"),
    # -- $domain= ----------------------------------------------------------------------------------
    case("domain-negated-not-on-that-site", ABP_DOM, abp("||g.test^$domain=~site.test"),
         "https://g.test/x.js", SITE, "script", False, None),
    case("domain-negated-elsewhere", ABP_DOM, abp("||g.test^$domain=~site.test"),
         "https://g.test/x.js", OTHER, "script", True, "||g.test^$domain=~site.test"),
    case("domain-more-specific-exclusion-wins", ABP_DOM,
         abp("||g.test^$domain=site.test|~www.site.test"),
         "https://g.test/x.js", SITE, "script", False, None),
    case("domain-include-on-a-sibling-subdomain", ABP_DOM,
         abp("||g.test^$domain=site.test|~www.site.test"),
         "https://g.test/x.js", "https://shop.site.test/", "script", True,
         "||g.test^$domain=site.test|~www.site.test"),
    case("domain-include-needs-a-page", ABP_DOM, abp("||g.test^$domain=site.test"),
         "https://g.test/x.js", None, "script", False, None),
    case("domain-is-the-page-not-the-request", ABP_DOM, abp("/ad.js$domain=site.test"),
         "https://site.test/ad.js", OTHER, "script", False, None),
    # -- $third-party ---------------------------------------------------------------------------
    case("third-party-spares-the-same-site", ABP_PARTY, abp("||f.test^$third-party"),
         "https://cdn.f.test/x.js", "https://www.f.test/", "script", False, None),
    case("third-party-blocks-another-site", ABP_PARTY, abp("||f.test^$third-party"),
         "https://cdn.f.test/x.js", SITE, "script", True, "||f.test^$third-party"),
    case("third-party-public-suffix-sites-differ", ABP_PARTY, abp("||f.github.io^$third-party"),
         "https://f.github.io/x.js", "https://g.github.io/", "script", True,
         "||f.github.io^$third-party"),
    case("first-party-only-not-from-elsewhere", ABP_PARTY, abp("||f.test/ad$~third-party"),
         "https://f.test/ad.js", SITE, "script", False, None),
    case("first-party-only-on-its-site", ABP_PARTY, abp("||f.test/ad$~third-party"),
         "https://f.test/ad.js", "https://f.test/", "script", True, "||f.test/ad$~third-party"),
    # -- anchors and types: must not match -----------------------------------------------------
    case("host-anchor-not-a-longer-name", ABP_ANCHOR, abp("||h.test^"),
         "https://noth.test/x", SITE, "script", False, None),
    case("host-anchor-not-a-name-continuing", ABP_ANCHOR, abp("||h.test^"),
         "https://h.test.evil/x", SITE, "script", False, None),
    case("host-anchor-not-in-the-query", ABP_ANCHOR, abp("||h.test^"),
         "https://x.test/?u=https://h.test/", SITE, "script", False, None),
    case("start-anchor-not-in-the-middle", ABP_ANCHOR, abp("|https://i.test/"),
         "https://x.test/?r=https://i.test/", SITE, "script", False, None),
    case("end-anchor-not-before-a-query", ABP_ANCHOR, abp("/ad.js|"),
         "https://j.test/ad.js?x=1", SITE, "script", False, None),
    case("separator-not-a-letter", ABP_ANCHOR, abp("||k.test/ad^"),
         "https://k.test/ads.js", SITE, "script", False, None),
    case("separator-at-the-end-of-the-url", ABP_ANCHOR, abp("||k.test/ad^"),
         "https://k.test/ad", SITE, "script", True, "||k.test/ad^"),
    case("match-case-respects-case", ABP_ANCHOR, abp("/Banner/$match-case"),
         "https://l.test/banner/1.png", SITE, "image", False, None,
         adblock_differs="adblock-rust (python adblock 0.6.0) ignores `$match-case`"),
    case("type-option-excludes-other-types", ABP_EXC, abp("||m.test^$script"),
         "https://m.test/p.png", SITE, "image", False, None),
    case("negated-type-excludes-that-type", ABP_EXC, abp("||m.test^$~image"),
         "https://m.test/p.png", SITE, "image", False, None),
    case("negated-type-keeps-the-others", ABP_EXC, abp("||m.test^$~image"),
         "https://m.test/t.js", SITE, "script", True, "||m.test^$~image"),
    # -- TPL (no adblock-rust verdict: TPL is not its syntax) --------------------------------
    *[
        case(f"tpl-domain-does-not-match-{host}", TPL_A6,
             {"t.tpl": ["msFilterList", "-d tracker.example"]},
             f"https://{host}/", SITE, "script", False, None)
        for host in ("mytracker.example", "tracker.examples.test", "example.tracker.test")
    ],
    case("tpl-domain-matches-a-contiguous-label-run", TPL_A6,
         {"t.tpl": ["msFilterList", "-d tracker.example"]},
         "https://tracker.example.net/x", SITE, "script", True, "-d tracker.example"),
    case("tpl-domain-is-third-party-only", "TPL spec §A.7 (first party never blocked)",
         {"t.tpl": ["msFilterList", "-d tracker.example"]},
         "https://cdn.tracker.example/x.js", "https://www.tracker.example/", "script", False, None),
    case("tpl-allow-not-a-lookalike", TPL_A6,
         {"t.tpl": ["msFilterList", "-d example", "+d partner.example"]},
         "https://notpartner.example/", SITE, "script", True, "-d example"),
    case("tpl-allow-right-most-labels-only", TPL_A6,
         {"t.tpl": ["msFilterList", "-d partner", "+d partner.example"]},
         "https://partner.example.net/", SITE, "script", True, "-d partner"),
    case("tpl-narrow-allow-leaves-other-paths", TPL_A6,
         {"t.tpl": ["msFilterList", "-d partner.example", "+d partner.example /widget/"]},
         "https://partner.example/ads/a.js", SITE, "script", True, "-d partner.example"),
    case("tpl-narrow-allow-lifts-its-path", TPL_A6,
         {"t.tpl": ["msFilterList", "-d partner.example", "+d partner.example /widget/"]},
         "https://partner.example/widget/a.js", SITE, "script", False,
         "+d partner.example /widget/", "-d partner.example"),
    case("tpl-allow-beats-a-more-specific-block", TPL_A8,
         {"t.tpl": ["msFilterList", "-d ads.partner.example", "+d partner.example"]},
         "https://ads.partner.example/x", SITE, "script", False, "+d partner.example",
         "-d ads.partner.example"),
    case("tpl-allow-beats-block-across-lists", TPL_A8,
         {"a.tpl": ["msFilterList", "+d partner.example"],
          "b.tpl": ["msFilterList", "-d ads.partner.example"]},
         "https://ads.partner.example/x", SITE, "script", False, "+d partner.example",
         "-d ads.partner.example"),
    case("tpl-allow-beats-an-abp-block-across-lists", TPL_A8,
         {"a.tpl": ["msFilterList", "+d cdn.example"],
          "b.txt": ["[Adblock Plus 2.0]", "||cdn.example^"]},
         "https://cdn.example/lib.js", SITE, "script", False, "+d cdn.example", "||cdn.example^"),
    case("tpl-pattern-pieces-in-order-only", TPL_A6,
         {"t.tpl": ["msFilterList", "- &res=*&plg=*&url="]},
         "https://c.example/h?&url=a&res=1920&plg=3", SITE, "script", False, None),
    case("tpl-pattern-literal-question-mark", TPL_A6,
         {"t.tpl": ["msFilterList", "- /pixel.gif?"]},
         "https://any.example/t/pixel.gif", SITE, "image", False, None),
    case("tpl-ip-literal-exact-host-only", TPL_A6,
         {"t.tpl": ["msFilterList", "-d 203.0.113.7"]},
         "http://203.0.113.70/ad.js", SITE, "script", False, None),
]  # fmt: skip
