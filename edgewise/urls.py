"""Normalisation of the LinkedIn URLs and URNs that arrive as action inputs (ACTIONS.md § Profile URLs).

Every spelling of one target normalises to one canonical form, used for lookup, limits and
de-duplication. A value that is not of the expected kind raises ValueError with a message for the client.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qs, unquote, urlsplit

PROFILE_URN_RE = re.compile(r"^urn:li:fsd_profile:([A-Za-z0-9_-]{6,64})$")
INVITATION_URN_RE = re.compile(r"^urn:li:(?:fsd_)?invitation:([A-Za-z0-9_-]{1,64})$")
# A slug or id: letters of any script, digits, hyphens, underscores, dots (and combining marks after NFC).
_SLUG_RE = re.compile(r"^[\w\-.\u0300-\u036f]{3,100}$")
_LINKEDIN_HOST_RE = re.compile(r"^(?:[a-z]{2,3}\.|www\.|m\.)?linkedin\.com$")

CANONICAL_BASE = "https://www.linkedin.com"
# The longest URL or URN taken as an input (before and after normalisation): Sales Navigator searches run to
# a few thousand characters; far longer ones cannot be requested from LinkedIn at all.
MAX_INPUT_CHARS = 8192


def _text(value: object) -> str:
    """The input stripped, or "" if it is not a string; ValueError if it is longer than MAX_INPUT_CHARS."""
    if not isinstance(value, str):
        return ""
    if len(value) > MAX_INPUT_CHARS:
        raise ValueError(f"must be at most {MAX_INPUT_CHARS} characters")
    return value.strip()


def _split(url: str) -> tuple[str, str, str]:
    """(lower-cased host, percent-decoded NFC path, raw query) of a LinkedIn URL; ValueError otherwise."""
    text = _text(url)
    if not text:
        raise ValueError("must not be empty")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an http(s) LinkedIn URL")
    host = (parts.hostname or "").lower()
    if not _LINKEDIN_HOST_RE.match(host):
        raise ValueError("must be a linkedin.com URL")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if port not in (None, 80, 443) or parts.username or parts.password:
        raise ValueError("must be a plain linkedin.com URL (no port or credentials)")
    path = unicodedata.normalize("NFC", unquote(parts.path))
    return host, path, parts.query


def _single_segment(path: str, prefix: str) -> str | None:
    segments = [s for s in path.split("/") if s]
    if len(segments) == 2 and segments[0].lower() == prefix:
        return segments[1]
    return None


def normalize_profile(value: str) -> str:
    """A profile URL in any spelling → `https://www.linkedin.com/in/{slug}`; a profile URN → itself."""
    text = _text(value)
    if PROFILE_URN_RE.match(text):
        return text
    try:
        _, path, _ = _split(text)
    except ValueError as exc:
        raise ValueError(f"not a LinkedIn profile URL ({exc})") from None
    slug = _single_segment(path, "in")
    if slug is None or not _SLUG_RE.match(slug):
        raise ValueError("not a LinkedIn profile URL (expected https://www.linkedin.com/in/<slug>)")
    return f"{CANONICAL_BASE}/in/{slug.lower()}"


def profile_slug(normalized: str) -> str | None:
    """The slug of a normalised profile URL, or None for a URN."""
    if normalized.startswith(f"{CANONICAL_BASE}/in/"):
        return normalized.removeprefix(f"{CANONICAL_BASE}/in/")
    return None


def normalize_company(value: str) -> str:
    text = _text(value)
    try:
        _, path, _ = _split(text)
    except ValueError as exc:
        raise ValueError(f"not a LinkedIn company URL ({exc})") from None
    segments = [s for s in path.split("/") if s]
    if len(segments) < 2 or segments[0].lower() not in ("company", "school", "showcase"):
        raise ValueError("not a LinkedIn company URL (expected https://www.linkedin.com/company/<slug>)")
    if not _SLUG_RE.match(segments[1]):
        raise ValueError("not a LinkedIn company URL")
    return f"{CANONICAL_BASE}/company/{segments[1].lower()}"


def normalize_search(value: str, kind: str) -> str:
    """A search URL (`people`, `companies` or `sales_people`) → canonical URL with sorted query parameters."""
    text = _text(value)
    try:
        _, path, query = _split(text)
    except ValueError as exc:
        raise ValueError(f"not a LinkedIn search URL ({exc})") from None
    clean = path.rstrip("/").lower()
    expected = {
        "people": "/search/results/people",
        "companies": "/search/results/companies",
        "sales_people": "/sales/search/people",
    }[kind]
    if clean != expected:
        raise ValueError(f"not a LinkedIn search URL (expected {CANONICAL_BASE}{expected}/?keywords=…)")
    params = parse_qs(query, keep_blank_values=False)
    # Tracking parameters do not change the results; drop them so the same search de-duplicates.
    kept = {k: v[-1] for k, v in sorted(params.items()) if k not in ("trk", "origin", "sid", "lipi")}
    from urllib.parse import urlencode

    suffix = ("?" + urlencode(kept)) if kept else ""
    canonical = f"{CANONICAL_BASE}{expected}/{suffix}"
    if len(canonical) > MAX_INPUT_CHARS:  # percent-encoding makes non-ASCII keywords up to 12× longer
        raise ValueError(f"must be at most {MAX_INPUT_CHARS} characters once percent-encoded")
    return canonical


def search_params(normalized: str) -> dict[str, str]:
    """Query parameters (keywords and filters) of a normalised search URL."""
    query = urlsplit(normalized).query
    return {k: v[-1] for k, v in parse_qs(query).items()}


def normalize_thread(value: str) -> str:
    text = _text(value)
    try:
        _, path, _ = _split(text)
    except ValueError as exc:
        raise ValueError(f"not a LinkedIn messaging thread URL ({exc})") from None
    segments = [s for s in path.split("/") if s]
    if len(segments) != 3 or segments[0].lower() != "messaging" or segments[1].lower() != "thread":
        raise ValueError("not a LinkedIn messaging thread URL (expected …/messaging/thread/<id>/)")
    if not _SLUG_RE.match(segments[2]) and not re.match(r"^[\w\-.=,:()]{3,200}$", segments[2]):
        raise ValueError("not a LinkedIn messaging thread URL (invalid thread id)")
    return f"{CANONICAL_BASE}/messaging/thread/{segments[2]}/"


def thread_id(normalized: str) -> str:
    return normalized.rstrip("/").rsplit("/", 1)[-1]


def normalize_invitation_urn(value: str) -> str:
    text = _text(value)
    match = INVITATION_URN_RE.match(text)
    if not match:
        raise ValueError("not a LinkedIn invitation URN (expected urn:li:fsd_invitation:<id>)")
    return f"urn:li:fsd_invitation:{match.group(1)}"
