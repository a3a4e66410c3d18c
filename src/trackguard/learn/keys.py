"""Tracker keys, site keys and what is never learned (learning.md §B5, §B8).

Pure functions and shipped tables. The tracker key is the eTLD+1 of the request host by
the PSL *with* its private section, so `a.cloudfront.net` and `b.cloudfront.net` stay
apart; the site key is the eTLD+1 of the page merged through an entity map, so one
owner's domains are one first party. Every shipped table entry carries its reason.
Nothing here does I/O: `entity_map_from_disconnect` takes parsed JSON, not a path.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from trackguard.domain import host_suffixes, is_ip_literal, registrable_domain, to_ascii_host

#: Hosts never learned (§B5): consent managers and bot/captcha challenges, with reasons.
IGNORED_HOSTS: dict[str, str] = {
    "consensu.org": "IAB consent-manager namespace (GDPR consent strings)",
    "cookielaw.org": "OneTrust consent manager",
    "onetrust.com": "OneTrust consent manager",
    "cookiebot.com": "Cookiebot consent manager",
    "usercentrics.eu": "Usercentrics consent manager",
    "didomi.io": "Didomi consent manager",
    "privacy-mgmt.com": "Sourcepoint consent manager",
    "consentmanager.net": "consentmanager.net consent manager",
    "trustarc.com": "TrustArc consent manager",
    "cookie-script.com": "Cookie-Script consent manager",
    "hcaptcha.com": "hCaptcha bot challenge",
    "recaptcha.net": "Google reCAPTCHA bot challenge",
    "challenges.cloudflare.com": "Cloudflare Turnstile bot challenge",
    "arkoselabs.com": "Arkose Labs bot challenge",
    "awswaf.com": "AWS WAF bot challenge and CAPTCHA (Privacy Badger yellowlists it)",
    "captcha-delivery.com": "DataDome bot challenge (its CAPTCHA pages)",
    "jnn-pa.googleapis.com": "Google web-app attestation (BotGuard) for YouTube embeds",
    "id.opendns.com": "OpenDNS identity check (ignored by Privacy Badger too)",
}

#: Strip-only list (our yellowlist, §B8.3): blocking breaks what the user came for, no
#: known non-consensual tracking, no self-hostable surrogate. Parent-domain matching: an
#: entry covers its subdomains; a host entry below a learned block (`i0.wp.com` under
#: `wp.com`) turns that block into `strip` for the host only. A learned decision on a
#: listed domain is `strip` whatever the evidence, and never escalates to `block`.
#: No fingerprinting or supercookie domains may be added.
STRIP_ONLY: dict[str, str] = {
    "accounts.google.com": "sign-in with Google",
    "apis.google.com": "Google sign-in and embeds API",
    "login.microsoftonline.com": "Microsoft sign-in",
    "login.live.com": "Microsoft account sign-in",
    "appleid.apple.com": "Sign in with Apple",
    "maps.googleapis.com": "embedded maps",
    "disqus.com": "comment widget",
    "paypal.com": "checkout",
    "js.stripe.com": "checkout",
    # Video embeds (L-12: none of these may be learned as a block, embedded videos would
    # break). Each is a player, its page, its thumbnails or its media segments; the
    # players' separate analytics hosts (`jwpltx.com`) are not here.
    "youtube.com": "video: YouTube embedded player (/embed/, the player's API and config)",
    "youtube-nocookie.com": "video: YouTube privacy-enhanced embedded player",
    "ytimg.com": "video: YouTube thumbnails and player scripts (i.ytimg.com, s.ytimg.com)",
    "googlevideo.com": "video: YouTube media segments",
    "vimeo.com": "video: Vimeo embedded player (player.vimeo.com)",
    "vimeocdn.com": "video: Vimeo player scripts, thumbnails and media",
    "jwplayer.com": "video: JW Player hosted players (cdn.jwplayer.com)",
    "jwpcdn.com": "video: JW Player library (ssl.p.jwpcdn.com)",
    "jwplatform.com": "video: JW Player media and playlists (content.jwplatform.com)",
    "jwpsrv.com": "video: JW Player hosted media (videos-*.jwpsrv.com)",
    "brightcove.net": "video: Brightcove embedded player (players.brightcove.net)",
    "boltdns.net": "video: Brightcove media delivery",
    "dailymotion.com": "video: Dailymotion embedded player",
    "dmcdn.net": "video: Dailymotion player scripts and media",
    "kaltura.com": "video: Kaltura embedded player and media",
    "wistia.com": "video: Wistia embedded player",
    "wistia.net": "video: Wistia player scripts and media",
    "vidyard.com": "video: Vidyard embedded player",
    # Host entries under a domain that also carries tracking (stats.wp.com stays blockable).
    "i0.wp.com": "images: Jetpack image CDN for WordPress sites",
    "i1.wp.com": "images: Jetpack image CDN for WordPress sites",
    "i2.wp.com": "images: Jetpack image CDN for WordPress sites",
    "s0.wp.com": "WordPress.com static scripts and styles",
    "c0.wp.com": "WordPress core scripts and styles served by Jetpack",
}

#: Same-owner groups Disconnect's entity map lacks (§B5, §B8.5), each with its evidence.
#: A group joins the Disconnect owner of any of its domains, so it never splits an owner.
ENTITY_SUPPLEMENT: dict[str, tuple[tuple[str, ...], str]] = {
    "Wikimedia Foundation": (
        (
            "wikipedia.org",
            "wikimedia.org",
            "wikimediafoundation.org",
            "wiktionary.org",
            "wikidata.org",
            "wikibooks.org",
            "wikiquote.org",
            "wikisource.org",
            "wikivoyage.org",
            "mediawiki.org",
        ),
        "Wikipedia's media come from upload.wikimedia.org (L-12 learned wikimedia.org from"
        " wikipedia.org pages); all are the Foundation's sites (wikimediafoundation.org)",
    ),
    "MercadoLibre": (
        ("mercadopago.com.ar", "mercadopago.com.br", "mercadopago.com.mx", "mercadolibre.com"),
        "Mercado Pago is MercadoLibre's payment arm; Disconnect lists mercadopago.com only",
    ),
    "Vtex": (
        ("vtex.com", "vtex.com.br", "vtexassets.com", "vteximg.com.br", "myvtex.com"),
        "VTEX's own domains; Disconnect lists vtex.com.br only",
    ),
}

#: Shared script CDNs: fingerprinting seen there gives a path rule, never a host block.
SHARED_CDNS: dict[str, str] = {
    "cdnjs.cloudflare.com": "public library CDN",
    "cdn.jsdelivr.net": "public library CDN",
    "unpkg.com": "public library CDN",
    "ajax.googleapis.com": "public library CDN",
    "code.jquery.com": "public library CDN",
    "akamaihd.net": "shared CDN",
    "akamaized.net": "shared CDN",
}

_PRIVATE_SUFFIXES = ("localhost", "local", "internal", "lan", "home.arpa", "localdomain")


def _suffix_in(host: str, table: Mapping[str, str]) -> str | None:
    for suffix in host_suffixes(host):
        if suffix in table:
            return suffix
    return None


def is_private_host(host: str) -> bool:
    """IP literals, single-label names and local-only suffixes are never learned (§B5)."""
    if not host or "." not in host or is_ip_literal(host):
        return True
    if host.strip("[]").replace(".", "").isdigit():
        return True
    return any(host == s or host.endswith("." + s) for s in _PRIVATE_SUFFIXES)


def ignored_reason(host: str) -> str | None:
    found = _suffix_in(host, IGNORED_HOSTS)
    return IGNORED_HOSTS[found] if found else None


def strip_only_reason(host: str) -> str | None:
    found = _suffix_in(host, STRIP_ONLY)
    return STRIP_ONLY[found] if found else None


def is_shared_cdn(host: str) -> bool:
    return _suffix_in(host, SHARED_CDNS) is not None


@lru_cache(maxsize=65536)
def tracker_key(host: str) -> str | None:
    """eTLD+1 by the PSL with its private section; None for hosts that cannot be keyed."""
    host = to_ascii_host(host)
    if len(host) > 253 or is_private_host(host):
        return None
    return registrable_domain(host)


@dataclass(frozen=True, slots=True)
class EntityMap:
    """Registrable domain -> owner name, for merging one owner's domains (§B5)."""

    owners: Mapping[str, str] = field(default_factory=dict)

    def owner(self, domain: str) -> str:
        """The owner key of a registrable domain: `entity:<name>`, else the domain itself."""
        name = self.owners.get(domain)
        return f"entity:{name}" if name else domain

    def related(self, a: str, b: str) -> bool:
        return a == b or self.owner(a) == self.owner(b)


def entity_map_from_disconnect(
    data: object,
    extra: Iterable[tuple[str, str]] = (),
    supplement: Mapping[str, tuple[tuple[str, ...], str]] | None = None,
) -> EntityMap:
    """Build an entity map from Disconnect's `entities.json` (parsed), plus local additions.

    `supplement` (normally `ENTITY_SUPPLEMENT`) adds same-owner groups: each group takes
    the Disconnect owner of its first known domain, else its own name, and never moves a
    domain Disconnect already gives to another owner. `extra` pairs override everything.
    Malformed parts are skipped: the file is input like any list.
    """
    owners: dict[str, str] = {}
    entities = data.get("entities") if isinstance(data, dict) else None
    if isinstance(entities, dict):
        for name, entry in entities.items():
            if not isinstance(name, str) or not isinstance(entry, dict):
                continue
            for part in ("properties", "resources"):
                domains = entry.get(part)
                if not isinstance(domains, list):
                    continue
                for domain in domains:
                    if isinstance(domain, str):
                        key = registrable_domain(domain)
                        if key:
                            owners.setdefault(key, name)
    for group, (domains, _why) in (supplement or {}).items():
        known = [owners[d] for d in domains if d in owners]
        owner = known[0] if known else group
        for domain in domains:
            owners.setdefault(domain, owner)
    for domain, name in extra:
        key = registrable_domain(domain)
        if key:
            owners[key] = name
    return EntityMap(owners)


def site_key(host: str, entities: EntityMap) -> str | None:
    """The owner-merged first-party key of a page host, or None when it cannot be keyed."""
    domain = tracker_key(host)
    return entities.owner(domain) if domain else None


TAG_BITS = 16


def site_tagger(key: bytes) -> SiteTagger:
    """`HMAC-SHA256(key, site_key)` truncated to 16 bits (§B10): a tag names ~15 of the top
    million sites, so even the key holder cannot pin a tag to one site."""
    return SiteTagger(key)


@dataclass(frozen=True, slots=True)
class SiteTagger:
    key: bytes

    def __call__(self, site: str) -> int:
        return _tag(self.key, site)


class ExactTagger:
    """Numbers each site in the order first seen: distinct counts are exact and the same
    on every run. Only for throwaway learners whose state never outlives the process
    (`trackguard audit`'s suggestions): a stored tag must be the keyed, truncated one
    (§B10), since an exact tag in a kept database would name the site."""

    __slots__ = ("_tags",)

    def __init__(self) -> None:
        self._tags: dict[str, int] = {}

    def __call__(self, site: str) -> int:
        return self._tags.setdefault(site, len(self._tags))


@lru_cache(maxsize=65536)
def _tag(key: bytes, site: str) -> int:
    digest = hmac.new(key, site.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return int.from_bytes(digest.digest()[:2], "big")
