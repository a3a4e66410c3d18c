"""JSON schemas of the target formats, written from their documentation (tests only).

DNR: chrome.declarativeNetRequest reference (Rule, RuleCondition, RuleAction, Redirect,
URLTransform, QueryTransform) and its limits; ids are positive integers, `priority` at
least 1, domain lists non-empty, `allowAllRequests` only on main_frame / sub_frame.
WebKit: "Creating a content blocker" (Apple) and WebKit's ContentExtensionParser: a
top-level array of {trigger, action}; `url-filter` required; `if-domain` and
`unless-domain` never together; domains lower-case ASCII, optionally `*`-prefixed.
"""

from __future__ import annotations

from typing import Any

DNR_RESOURCE_TYPES = [
    "main_frame",
    "sub_frame",
    "stylesheet",
    "script",
    "image",
    "font",
    "object",
    "xmlhttprequest",
    "ping",
    "csp_report",
    "media",
    "websocket",
    "webtransport",
    "webbundle",
    "other",
]

_DOMAINS = {
    "type": "array",
    "minItems": 1,
    "uniqueItems": True,
    "items": {"type": "string", "pattern": "^[a-z0-9.\\-_\\[\\]:]+$"},
}
_TYPES = {
    "type": "array",
    "minItems": 1,
    "uniqueItems": True,
    "items": {"enum": DNR_RESOURCE_TYPES},
}

DNR_RULE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "action", "condition"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "priority": {"type": "integer", "minimum": 1},
        "action": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {
                "type": {
                    "enum": [
                        "block",
                        "redirect",
                        "allow",
                        "upgradeScheme",
                        "modifyHeaders",
                        "allowAllRequests",
                    ]
                },
                "redirect": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "url": {"type": "string"},
                        "extensionPath": {"type": "string", "pattern": "^/"},
                        "regexSubstitution": {"type": "string"},
                        "transform": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "query": {"type": "string", "pattern": "^(\\?.*)?$"},
                                "queryTransform": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "removeParams": {
                                            "type": "array",
                                            "minItems": 1,
                                            "items": {"type": "string", "minLength": 1},
                                        },
                                        "addOrReplaceParams": {"type": "array"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": "redirect"}}},
                    "then": {"required": ["redirect"]},
                    "else": {"not": {"required": ["redirect"]}},
                }
            ],
        },
        "condition": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                # urlFilter: ASCII only, not empty, and never starting with `||*`.
                "urlFilter": {
                    "type": "string",
                    "minLength": 1,
                    "pattern": "^[\\x20-\\x7e]+$",
                    "not": {"pattern": "^\\|\\|\\*"},
                },
                "regexFilter": {"type": "string", "minLength": 1},
                "isUrlFilterCaseSensitive": {"type": "boolean"},
                "initiatorDomains": _DOMAINS,
                "excludedInitiatorDomains": _DOMAINS,
                "requestDomains": _DOMAINS,
                "excludedRequestDomains": _DOMAINS,
                "resourceTypes": _TYPES,
                "excludedResourceTypes": _TYPES,
                "domainType": {"enum": ["firstParty", "thirdParty"]},
                "tabIds": {"type": "array"},
                "requestMethods": {"type": "array"},
            },
            "not": {"required": ["urlFilter", "regexFilter"]},
        },
    },
    "allOf": [
        {
            # allowAllRequests only applies to frames (Chrome rejects other types).
            "if": {
                "properties": {"action": {"properties": {"type": {"const": "allowAllRequests"}}}}
            },
            "then": {
                "properties": {
                    "condition": {
                        "required": ["resourceTypes"],
                        "properties": {
                            "resourceTypes": {"items": {"enum": ["main_frame", "sub_frame"]}}
                        },
                    }
                }
            },
        }
    ],
}

DNR_RULESET: dict[str, Any] = {
    "type": "array",
    "maxItems": 330_000,  # the global static rule pool
    "items": DNR_RULE,
}

_WEBKIT_DOMAINS = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "string", "pattern": "^\\*?[a-z0-9.\\-_]+$"},
}

SAFARI_RULE: dict[str, Any] = {
    "type": "object",
    "required": ["trigger", "action"],
    "additionalProperties": False,
    "properties": {
        "trigger": {
            "type": "object",
            "required": ["url-filter"],
            "additionalProperties": False,
            "properties": {
                "url-filter": {"type": "string", "minLength": 1, "pattern": "^[\\x20-\\x7e]+$"},
                "url-filter-is-case-sensitive": {"type": "boolean"},
                "if-domain": _WEBKIT_DOMAINS,
                "unless-domain": _WEBKIT_DOMAINS,
                "if-top-url": {"type": "array", "minItems": 1},
                "unless-top-url": {"type": "array", "minItems": 1},
                "resource-type": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "enum": [
                            "document",
                            "image",
                            "style-sheet",
                            "script",
                            "font",
                            "raw",
                            "svg-document",
                            "media",
                            "popup",
                            "ping",
                            "fetch",
                            "websocket",
                            "other",
                        ]
                    },
                },
                "load-type": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1,
                    "items": {"enum": ["first-party", "third-party"]},
                },
                "load-context": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"enum": ["top-frame", "child-frame"]},
                },
            },
            "not": {"anyOf": [{"required": ["if-domain", "unless-domain"]}]},
        },
        "action": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {
                    "enum": [
                        "block",
                        "block-cookies",
                        "css-display-none",
                        "ignore-previous-rules",
                        "make-https",
                    ]
                },
                "selector": {"type": "string"},
            },
        },
    },
}

SAFARI_LIST: dict[str, Any] = {"type": "array", "items": SAFARI_RULE}


def webkit_regex_problem(text: str) -> str | None:
    """Why `text` is outside WebKit's url-filter regex subset, or None.

    Allowed: literals, `\\`-escapes of special characters, `.`, `[...]` classes (with `^`
    negation and ranges), `(...)` groups, the quantifiers `*`, `+`, `?`; `^` only first,
    `$` only last; no `|`, no `{}` counted repetition, no backreferences.
    """
    i, n = 0, len(text)
    depth = 0
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                return "trailing backslash"
            if text[i + 1].isdigit():
                return "backreference"
            i += 2
            continue
        if c == "[":
            close = text.find("]", i + 2)
            if close < 0:
                return "unclosed class"
            i = close + 1
            continue
        if c == "|":
            return "alternation"
        if c in "{}":
            return "counted repetition"
        if c == "^" and i != 0:
            return "`^` not at the start"
        if c == "$" and i != n - 1:
            return "`$` not at the end"
        if c == "(":
            depth += 1
        if c == ")":
            depth -= 1
            if depth < 0:
                return "unbalanced group"
        i += 1
    return "unbalanced group" if depth else None
