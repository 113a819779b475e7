"""Where edgewise may POST: webhook and callback target URLs (API.md §3 Deliveries).

Targets must be `http`/`https` URLs with a host. Private, loopback, link-local, unspecified, multicast and
reserved addresses are refused unless the operator sets `ALLOW_PRIVATE_TARGETS=true` — otherwise any
workspace could make the platform probe its own network (SSRF). Host names are resolved and every address
they resolve to is checked; a name that does not resolve is refused too. The API's own host and port are
always refused, whatever the setting, so a callback cannot loop back into the API.

`validate_target_url` runs when a URL is accepted; `is_target_allowed` re-checks at delivery time (DNS can
change in between).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from edgewise.config import Settings
from edgewise.errors import bad_input

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that mean "this machine" whatever DNS says.
_SELF_NAMES = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "::"})


class TargetRefused(ValueError):
    pass


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise TargetRefused(f"host {host!r} does not resolve") from None
    addresses: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        try:
            addresses.append(ipaddress.ip_address(text))
        except ValueError:
            continue
    if not addresses:
        raise TargetRefused(f"host {host!r} does not resolve")
    return addresses


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )


def _is_local(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _base_endpoint(settings: Settings) -> tuple[str, int] | None:
    """(host, port) of the API's public base URL."""
    base = urlsplit(settings.api_base_url)
    if not base.hostname:
        return None
    try:
        return base.hostname.lower(), base.port or _default_port(base.scheme.lower())
    except ValueError:
        return None


def _refuse_self(host: str, port: int, addresses: list[IPAddress], settings: Settings) -> None:
    """Refuse the API's own host and port, by name or by address."""
    base = _base_endpoint(settings)
    local_names = _SELF_NAMES | {settings.api_host.lower()}
    if (host, port) == base or (host in local_names and port == settings.api_port):
        raise TargetRefused("must not point at the edgewise API itself")
    if port == settings.api_port and any(_is_local(a) for a in addresses):
        raise TargetRefused("must not point at the edgewise API itself")
    if base is not None and port == base[1]:
        try:
            own = set(_resolve(*base))
        except TargetRefused:
            own = set()
        if own & set(addresses):
            raise TargetRefused("must not point at the edgewise API itself")


def check_target(url: object, settings: Settings) -> str:
    """The URL if edgewise may POST to it; TargetRefused (with the reason) otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise TargetRefused("must be an http or https URL")
    text = url.strip()
    if len(text) > MAX_URL_LENGTH:
        raise TargetRefused(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise TargetRefused("is not a valid URL") from None
    if scheme not in ("http", "https") or not host:
        raise TargetRefused("must be an http or https URL with a host")
    if any(ch.isspace() for ch in text):
        raise TargetRefused("must not contain spaces")
    port = port or _default_port(scheme)

    if host.startswith("[") or host.endswith("]"):
        host = host.strip("[]")
    addresses = _resolve(host, port)
    _refuse_self(host, port, addresses, settings)
    if not settings.allow_private_targets:
        refused = [a for a in addresses if not _is_public(a)]
        if refused:
            raise TargetRefused(
                f"private, loopback, link-local or reserved addresses are not allowed ({refused[0]})"
            )
    return text


def validate_target_url(url: object, settings: Settings, field: str) -> str:
    """Accept a webhook/callback URL or raise ApiError 400 BAD_INPUT naming `field`."""
    try:
        return check_target(url, settings)
    except TargetRefused as exc:
        raise bad_input(field, str(exc)) from None


def is_target_allowed(url: str, settings: Settings) -> bool:
    """Re-check a stored target at delivery time (DNS may have changed since it was accepted)."""
    try:
        check_target(url, settings)
    except TargetRefused:
        return False
    return True
