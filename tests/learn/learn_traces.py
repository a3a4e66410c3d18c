"""Seeded synthetic traces S1 and S3 (learning.md §B12), and the proxy-like replay harness.

Versioned: change `S1_VERSION` / `S3_VERSION` whenever the output of a seed changes, so a
figure in a report can be tied to the trace that produced it.

The traces are HTTP exchanges (what the proxy with interception sees). `replay` attributes
them exactly as the proxy does: `policy.decide` with the real `NavigationRecord` (pages
engage on 2xx HTML navigations, redirects never do, frames map to their top site,
unattributed requests are dropped) and hands attributed exchanges to the real `Feed` and
`Learner`. Ground truth comes from the generator's own intent, not from the learner.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from corpus_paths import corpus_path
from trackguard.learn.core import LearnContext, Learner, LearnState
from trackguard.learn.feed import DAY, Exchange, Feed
from trackguard.learn.keys import EntityMap, entity_map_from_disconnect, site_tagger
from trackguard.learn.model import LearnConfig
from trackguard.model import Decision, RequestType, Rule
from trackguard.policy.attribution import NavigationRecord
from trackguard.policy.decide import PolicyConfig, decide

S1_VERSION = "S1-v1"
S3_VERSION = "S3-v1"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/139.0.0.0 Safari/537.36"


class NullMatcher:
    """No list rules: the policy only attributes (lists are not what these traces test)."""

    def check(self, url: str, source_url: str | None = None, type: object = "other") -> Decision:
        return Decision(False)

    def check_host(self, host: str) -> Decision:
        return Decision(False)

    def removeparam(
        self, url: str, source_url: str | None = None, type: object = "other"
    ) -> tuple[str, tuple[Rule, ...]]:
        return url, ()


@dataclass
class Trace:
    version: str
    exchanges: list[Exchange]
    #: domain -> "none" / "strip" / "block" (intended remedy)
    labels: dict[str, str]
    #: domain -> kind of third party ("tracker", "static-cdn", "font", "consent", ...)
    roles: dict[str, str]
    #: domain -> set of (site key, day) where an attributed tracking request was made
    tracked: dict[str, set[tuple[str, int]]] = field(default_factory=dict)
    entities: EntityMap = field(default_factory=EntityMap)
    site_names: list[str] = field(default_factory=list)
    cookie_values: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    #: Domains the seed knows (S1's trackers come from Disconnect): not novel (§B9.3).
    seed: frozenset[str] = frozenset()

    def positives(self, threshold: int) -> set[str]:
        """Trackers showing tracking on >= T sites across >= 2 days (§B12)."""
        out = set()
        for domain, seen in self.tracked.items():
            if self.labels.get(domain, "none") == "none":
                continue
            sites = {s for s, _ in seen}
            days = {d for _, d in seen}
            if len(sites) >= threshold and len(days) >= 2:
                out.add(domain)
        return out


def _hex(rng: random.Random, n: int = 16) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def disconnect_trackers(count: int, rng: random.Random) -> list[str]:
    data = json.loads((corpus_path() / "other" / "disconnect-services.json").read_text())
    domains: set[str] = set()
    for category in ("Advertising", "Analytics"):
        for entry in data["categories"][category]:
            for sites in entry.values():
                for urls in sites.values():
                    if isinstance(urls, list):
                        domains.update(d for d in urls if d.count(".") == 1 and d.endswith(".com"))
    pool = sorted(domains)
    return rng.sample(pool, count)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.exchanges: list[Exchange] = []
        self.tracked: dict[str, set[tuple[str, int]]] = {}
        self.cookie_values: list[str] = []
        self.paths: list[str] = []
        self.jar: dict[tuple[str, str], str] = {}  # (site or "", host) -> cookie value

    def nav(self, t: float, url: str, status: int = 200, set_cookie: str = "") -> None:
        headers = (
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
            ("sec-fetch-site", "none"),
            ("user-agent", UA),
            ("accept", "text/html"),
        )
        response: list[tuple[str, str]] = [("content-type", "text/html")]
        if status in (301, 302):
            response.append(("location", "https://next.example/"))
        if set_cookie:
            response.append(("set-cookie", set_cookie))
        self.exchanges.append(Exchange(t, "GET", url, headers, status, tuple(response), 30000))

    def sub(
        self,
        t: float,
        url: str,
        referer: str | None,
        dest: str,
        *,
        status: int = 200,
        ctype: str = "application/javascript",
        size: int = 20000,
        cookie: str = "",
        set_cookies: Iterable[str] = (),
        method: str = "GET",
        resource_type: RequestType | None = None,
    ) -> None:
        headers: list[tuple[str, str]] = [
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-dest", dest),
            ("sec-fetch-site", "cross-site"),
            ("user-agent", UA),
        ]
        if referer is not None:
            headers.append(("referer", referer))
        if cookie:
            headers.append(("cookie", cookie))
        response = [("content-type", ctype)] + [("set-cookie", c) for c in set_cookies]
        self.exchanges.append(
            Exchange(t, method, url, tuple(headers), status, tuple(response), size, resource_type)
        )


@dataclass(frozen=True)
class _Party:
    domain: str
    role: str
    label: str
    sites: tuple[int, ...]
    emit: Callable[..., bool]  # (builder, t, site, page, day, fp cookie) -> tracked?


def s1(seed: int = 1, *, days: int = 30, visits_per_day: int = 60) -> Trace:
    """Trace S1: 300 sites, 40 Disconnect trackers, 25 benign third parties, noise."""
    b = _Builder(seed)
    rng = b.rng
    suffixes = ["com", "co.uk", "com.ar", "net", "org"]
    sites = [f"site{i}.{suffixes[i % len(suffixes)]}" for i in range(300)]
    # Entity-related pairs: news{k}.com and news{k}.co.uk are one owner (counted once),
    # and brand{k}.com embeds its own brand{k}-static.net.
    for k in range(10):
        sites[k * 2] = f"news{k}.com"
        sites[k * 2 + 1] = f"news{k}.co.uk"
    for k in range(5):
        sites[20 + k] = f"brand{k}.com"
    extra = [(f"news{k}.com", f"News{k}") for k in range(10)]
    extra += [(f"news{k}.co.uk", f"News{k}") for k in range(10)]
    extra += [(f"brand{k}.com", f"Brand{k}") for k in range(5)]
    extra += [(f"brand{k}-static.net", f"Brand{k}") for k in range(5)]
    entities = entity_map_from_disconnect({}, extra)
    trackers = disconnect_trackers(40, rng)
    parties: list[_Party] = []

    def spread(n: int) -> tuple[int, ...]:
        return tuple(sorted(rng.sample(range(300), min(n, 300))))

    def cookie_for(site: str, host: str) -> tuple[str, list[str]]:
        """Third-party cookie jar: (Cookie header, Set-Cookie list) for host."""
        key = ("", host)
        value = b.jar.get(key)
        if value is None:
            value = b.jar[key] = _hex(rng, 20)
            b.cookie_values.append(value)
            return "", [f"uid={value}; Path=/; Max-Age=31536000; SameSite=None; Secure"]
        return f"uid={value}", []

    for i, domain in enumerate(trackers):
        n = max(1, round(120 / (1 + i) ** 1.05))
        style = "beacon" if i % 4 == 0 else "pixel" if i % 4 == 1 else "cookie"
        url_id = i % 4 == 2 and i < 40 and len([p for p in parties if p.role == "url-id"]) < 10
        asset_only = style == "cookie" and not url_id and i % 8 == 3
        label = "strip" if asset_only else "block"

        def emit(
            bb: _Builder,
            t: float,
            site: str,
            page: str,
            day: int,
            fp: str,
            domain: str = domain,
            style: str = style,
            url_id: bool = url_id,
            asset_only: bool = asset_only,
        ) -> bool:
            host = f"www.{domain}" if asset_only else f"t.{domain}"
            cookie, sets = cookie_for(site, host)
            bb.sub(
                t,
                f"https://{host}/lib/tag.js",
                page,
                "script",
                cookie=cookie,
                set_cookies=sets,
                size=30000,
            )
            if asset_only:
                bb.sub(
                    t + 1,
                    f"https://{host}/img/logo.png",
                    page,
                    "image",
                    cookie=cookie,
                    ctype="image/png",
                    size=8000,
                )
                return True
            if style == "beacon":
                bb.sub(
                    t + 2,
                    f"https://{host}/collect",
                    page,
                    "empty",
                    cookie=cookie,
                    method="POST",
                    ctype="text/plain",
                    size=0,
                    status=204,
                    resource_type=RequestType.PING,
                )
            elif style == "pixel":
                bb.sub(
                    t + 2,
                    f"https://{host}/p.gif?cb={_hex(bb.rng, 12)}&ev=pv",
                    page,
                    "image",
                    cookie=cookie,
                    ctype="image/gif",
                    size=43,
                )
            else:
                bb.sub(
                    t + 2,
                    f"https://{host}/sync",
                    page,
                    "empty",
                    cookie=cookie,
                    ctype="application/json",
                    size=120,
                )
            if url_id and fp:
                bb.sub(
                    t + 3, f"https://{host}/id?fpc={fp}", page, "image", ctype="image/gif", size=43
                )
            return True

        role = "url-id" if url_id else "tracker"
        parties.append(_Party(domain, role, label, spread(n), emit))

    def asset(
        bb: _Builder,
        t: float,
        page: str,
        host: str,
        ctype: str = "text/css",
        size: int = 15000,
        cookie: str = "",
        sets: Iterable[str] = (),
        dest: str = "style",
    ) -> None:
        bb.sub(
            t,
            f"https://{host}/static/app.{ctype.split('/')[-1]}",
            page,
            dest,
            ctype=ctype,
            size=size,
            cookie=cookie,
            set_cookies=sets,
        )

    def benign(
        domain: str, role: str, n: int, label: str, fn: Callable[[_Builder, float, str, str], None]
    ) -> None:
        def emit(bb: _Builder, t: float, site: str, page: str, day: int, fp: str) -> bool:
            fn(bb, t, site, page)
            return label != "none"

        parties.append(_Party(domain, role, label, spread(n), emit))

    for k in range(4):
        tenant = f"d{_hex(rng, 10)}.cloudfront.net"
        benign(
            tenant,
            "static-cdn",
            30 + 20 * k,
            "none",
            lambda bb, t, s, p, h=tenant: asset(
                bb, t, p, h, "application/javascript", dest="script"
            ),
        )
    for lib in ("libcdn.net", "jslibs.org", "pkgcdn.com"):
        benign(
            lib,
            "static-cdn",
            60,
            "none",
            lambda bb, t, s, p, h=f"cdn.{lib}": asset(
                bb, t, p, h, "application/javascript", dest="script"
            ),
        )
    benign(
        "fontshost.net",
        "font",
        150,
        "none",
        lambda bb, t, s, p: (
            asset(bb, t, p, "fonts.fontshost.net", "text/css"),
            asset(bb, t, p, "fonts.fontshost.net", "font/woff2", dest="font"),
        )[0],
    )
    benign(
        "cookielaw.org",
        "consent",
        80,
        "none",
        lambda bb, t, s, p: asset(
            bb,
            t,
            p,
            "cdn.cookielaw.org",
            "application/javascript",
            sets=[f"OptanonConsent={_hex(bb.rng, 30)}"],
            dest="script",
        ),
    )
    benign(
        "hcaptcha.com",
        "captcha",
        40,
        "none",
        lambda bb, t, s, p: asset(
            bb,
            t,
            p,
            "js.hcaptcha.com",
            "application/javascript",
            sets=[f"hmt_id={_hex(bb.rng, 30)}"],
            dest="script",
        ),
    )
    benign(
        "vidhost.net",
        "video",
        50,
        "none",
        lambda bb, t, s, p: asset(
            bb, t, p, "media.vidhost.net", "video/mp4", size=500000, dest="video"
        ),
    )
    for k in range(3):
        d = f"cfsite{k}.net"
        benign(
            d,
            "cf-bm",
            50,
            "none",
            lambda bb, t, s, p, h=f"api.{d}": bb.sub(
                t,
                f"https://{h}/v1/config",
                p,
                "empty",
                ctype="application/json",
                size=300,
                set_cookies=[f"__cf_bm={_hex(bb.rng, 40)}; Path=/; Secure"],
            ),
        )
        d2 = f"langsvc{k}.com"
        benign(
            d2,
            "lang-cookie",
            50,
            "none",
            lambda bb, t, s, p, h=f"w.{d2}": bb.sub(
                t,
                f"https://{h}/widget",
                p,
                "empty",
                ctype="application/json",
                size=300,
                cookie="lang=en",
                set_cookies=["lang=en; Path=/"],
            ),
        )
        d3 = f"chips{k}.io"

        def partitioned(bb: _Builder, t: float, s: str, p: str, h: str = f"w.{d3}") -> None:
            key = (s, h)
            value = bb.jar.get(key)
            if value is None:
                value = bb.jar[key] = _hex(bb.rng, 24)
                bb.sub(
                    t,
                    f"https://{h}/embed",
                    p,
                    "empty",
                    ctype="application/json",
                    size=300,
                    set_cookies=[f"pid={value}; Secure; Partitioned"],
                )
            else:
                bb.sub(
                    t,
                    f"https://{h}/embed",
                    p,
                    "empty",
                    ctype="application/json",
                    size=300,
                    cookie=f"pid={value}",
                )

        benign(d3, "partitioned", 50, "none", partitioned)
    for k in range(5):
        d = f"assetco{k}.com"

        def parent_cookie(bb: _Builder, t: float, s: str, p: str, d: str = d) -> None:
            cookie, sets = cookie_for(s, f"static.{d}")
            sets = [c.replace("Path=/", f"Domain={d}; Path=/") for c in sets]
            asset(
                bb,
                t,
                p,
                f"static.{d}",
                "application/javascript",
                size=40000,
                cookie=cookie,
                sets=sets,
                dest="script",
            )
            asset(bb, t + 1, p, f"img.{d}", "image/jpeg", size=60000, cookie=cookie, dest="image")

        benign(d, "parent-cookie-cdn", 40 + 10 * k, "strip", parent_cookie)

    # Entity companions: brand{k}-static.net sets an id cookie, embedded only by brand{k}.
    for k in range(5):
        d = f"brand{k}-static.net"

        def companion(bb: _Builder, t: float, s: str, p: str, d: str = d) -> None:
            cookie, sets = cookie_for(s, f"img.{d}")
            bb.sub(
                t,
                f"https://img.{d}/b.gif?u={_hex(bb.rng, 16)}",
                p,
                "image",
                ctype="image/gif",
                size=43,
                cookie=cookie,
                set_cookies=sets,
            )

        parties.append(
            _Party(
                d,
                "entity-related",
                "none",
                (20 + k,),
                lambda bb, t, s, p, day, fp, f=companion: f(bb, t, s, p) or False,
            )
        )

    embeds: dict[int, list[_Party]] = {i: [] for i in range(300)}
    for party in parties:
        for i in party.sites:
            embeds[i].append(party)
    # the news pairs: each embeds the same first five trackers (counted once per owner)
    for k in range(10):
        for party in parties[:5]:
            for i in (2 * k, 2 * k + 1):
                if party not in embeds[i]:
                    embeds[i].append(party)
    popularity = [1.0 / (1 + (i % 97)) ** 0.3 for i in range(300)]
    site_key = {s: entities.owner(s) for s in sites}

    for day in range(days):
        t = day * DAY + 8 * 3600
        for _visit in range(visits_per_day):
            t += 600
            i = rng.choices(range(300), popularity)[0]
            site = sites[i]
            page = f"https://www.{site}/"
            if rng.random() < 0.05:
                # a redirect bounce site: never engages, its pixel must not count
                bounce = f"bounce{rng.randrange(3)}.click"
                b.nav(t, f"https://{bounce}/r?to={site}", status=302)
                party = parties[rng.randrange(40)]
                party.emit(b, t + 1, bounce, f"https://{bounce}/", day, "")
            fp = b.jar.get((site, "fp"))
            set_fp = ""
            if fp is None:
                fp = b.jar[(site, "fp")] = _hex(rng, 20)
                set_fp = f"_fpid={fp}; Path=/"
                b.cookie_values.append(fp)
            b.nav(t, page, set_cookie=set_fp)
            b.sub(t + 0.5, f"https://www.{site}/app.js", page, "script", cookie=f"_fpid={fp}")
            b.paths.append(f"/{site}/app.js")
            order = list(embeds[i])
            rng.shuffle(order)  # pages load their third parties in varying order
            for party in order:
                no_referer = rng.random() < 0.10
                framed = rng.random() < 0.1
                ref: str | None = page
                if framed:
                    frame = f"https://frames.widgethub.net/w{rng.randrange(9)}"
                    b.sub(t + 1, frame, page, "iframe", ctype="text/html", size=5000)
                    ref = "https://frames.widgethub.net/"
                if no_referer:
                    ref = None
                tracked = party.emit(b, t + 3, site, ref, day, fp)
                if tracked and ref is not None:
                    b.tracked.setdefault(party.domain, set()).add((site_key[site], day))
    labels = {p.domain: p.label for p in parties}
    roles = {p.domain: p.role for p in parties}
    return Trace(
        S1_VERSION,
        b.exchanges,
        labels,
        roles,
        b.tracked,
        entities,
        sites,
        b.cookie_values,
        b.paths,
        frozenset(trackers),
    )


def s3_day(
    b: _Builder, day: int, sites: list[str], planted: list[str], *, engaged: int, bounce: bool
) -> None:
    """One attack day: optional bounce chain through all sites, then `engaged` real visits.

    Every attacker page embeds every planted domain with an identifier cookie and a
    beacon (the strongest evidence), so only the gates stand in the way.
    """
    t = day * DAY + 9 * 3600
    if bounce:
        for site in sites:
            t += 2
            b.nav(t, f"https://{site}/hop", status=302)
            for domain in planted:
                b.sub(
                    t + 1,
                    f"https://x.{domain}/c",
                    f"https://{site}/",
                    "empty",
                    method="POST",
                    ctype="text/plain",
                    size=0,
                    status=204,
                    cookie=f"id={_hex(b.rng)}",
                    resource_type=RequestType.PING,
                )
    for visit in range(engaged):
        t += 900
        site = sites[visit % len(sites)]
        page = f"https://{site}/"
        b.nav(t, page)
        # the attacker orders the domains so every visit pushes different ones
        start = (visit * 2 + day * engaged * 2) % len(planted)
        order = planted[start:] + planted[:start]
        for domain in order:
            b.sub(
                t + 1,
                f"https://x.{domain}/c",
                page,
                "empty",
                method="POST",
                ctype="text/plain",
                size=0,
                status=204,
                cookie=f"id={_hex(b.rng)}",
                resource_type=RequestType.PING,
            )


def s3(seed: int = 3, *, bits: int = 64, plan: tuple[tuple[int, bool], ...] = ()) -> Trace:
    """Trace S3 (§B12 L-6): 20 attacker sites, 64 domains, a 64-bit id.

    `plan` is one (engaged visits, bounce chain) pair per day.
    """
    b = _Builder(seed)
    sites = [f"attacker{i}.com" for i in range(20)]
    domains = [f"probe{i}-{_hex(b.rng, 6)}.net" for i in range(64)]
    ident = b.rng.getrandbits(bits)
    planted = [d for i, d in enumerate(domains) if ident >> i & 1]
    for day, (engaged, bounce) in enumerate(plan):
        s3_day(b, day, sites, planted, engaged=engaged, bounce=bounce)
    labels = dict.fromkeys(domains, "block")
    return Trace(S3_VERSION, b.exchanges, labels, dict.fromkeys(planted, "planted"))


def make_context(
    trace: Trace, config: LearnConfig | None = None, key: bytes = b"k" * 32, **kw: object
) -> LearnContext:
    return LearnContext(
        config=config or LearnConfig(),
        site_tag=site_tagger(key),
        entities=trace.entities,
        **kw,  # type: ignore[arg-type]
    )


@dataclass
class Replay:
    observed: int = 0
    dropped_unattributed: int = 0
    evidence: int = 0


def replay(
    exchanges: Iterable[Exchange],
    ctx: LearnContext,
    state: LearnState,
    feed: Feed | None = None,
) -> Replay:
    """Feed exchanges through the proxy's attribution into the learner, in order."""
    clock = [0.0]
    record = NavigationRecord(clock=lambda: clock[0])
    feed = feed or Feed()
    learner = Learner(ctx)
    policy = PolicyConfig()
    matcher = NullMatcher()
    stats = Replay()
    for ex in exchanges:
        clock[0] = ex.time
        headers = dict(ex.request_headers)
        verdict = decide(ex.method, ex.url, headers, config=policy, matcher=matcher, record=record)
        if verdict.engage:
            ctype = next((v for n, v in ex.response_headers if n == "content-type"), "")
            if 200 <= ex.status < 300 and "html" in ctype:
                record.engage(ex.url)
                feed.observation(ex, verdict.host)
            continue
        if verdict.frame_of is not None:
            record.note_frame(ex.url, verdict.frame_of)
        if not verdict.site:
            stats.dropped_unattributed += 1
            feed.note_unattributed(ex)
            continue
        obs = feed.observation(ex, verdict.site)
        if obs is None:
            continue
        stats.observed += 1
        ev = learner.observe(obs)
        if ev is not None and state.add(ev, ctx):
            stats.evidence += 1
        item = learner.presence(obs)
        if item is not None:
            state.add_presence(item, ctx)
    return stats
