"""Which destinations a webhook may have: the address classifier and the URL check.

A webhook is a request batchdial makes on a customer's behalf to a URL the customer
chose, so an endpoint must not point batchdial at its own network (SSRF): a
destination is refused unless EVERY address its host resolves to is public. The check
runs at create/update and again before each attempt (a name may resolve elsewhere
later: DNS rebinding). ``BATCHDIAL_WEBHOOK_ALLOW_PRIVATE=true`` lifts it (and allows
``http``), for tests and closed networks.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``host`` -> the addresses it resolves to (``socket.getaddrinfo`` by default).
Resolver = Callable[[str], Sequence[str]]

#: Ranges refused beyond what ``ipaddress`` calls non-global (explicit, so that the rule
#: does not depend on the Python version's tables).
_REFUSED: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/128",
        "::1/128",
        "fc00::/7",  # unique-local
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def is_public(addr: IPAddress) -> bool:
    """Whether a webhook may be sent to ``addr`` (refused: loopback, private, link-local,
    unique-local, multicast, unspecified, CGNAT, reserved, and IPv6 forms of those)."""
    if isinstance(addr, ipaddress.IPv6Address):
        inner = embedded_ipv4(addr)
        if inner is not None and not is_public(inner):
            return False
    if any(addr.version == net.version and addr in net for net in _REFUSED):
        return False
    return addr.is_global and not addr.is_multicast


def system_resolver(host: str) -> list[str]:
    """Every address ``host`` resolves to (``getaddrinfo``; an IP literal is itself)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def url_problem(
    url: str, *, allow_private: bool, resolver: Resolver = system_resolver
) -> str | None:
    """What is wrong with a webhook URL as a destination, or None.

    ``https`` only (``http`` too with ``allow_private``); the host must resolve, and every
    address to a public one unless ``allow_private``.
    """
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        allowed = " or ".join(f"{s}://" for s in schemes)
        return f"must be an absolute URL starting with {allowed} (got {url!r})"
    if parts.username or parts.password:
        return "must not carry a user or password (the signature authenticates batchdial)"
    try:
        _ = parts.port
    except ValueError:
        return "has an invalid port"
    if allow_private:
        return None
    return host_problem(parts.hostname, resolver)


def host_problem(host: str, resolver: Resolver = system_resolver) -> str | None:
    """Why ``host`` is refused as a destination (an address not public), or None."""
    try:
        addresses = resolver(host)
    except (OSError, UnicodeError) as exc:
        return f"its host {host!r} does not resolve ({exc})"
    if not addresses:
        return f"its host {host!r} does not resolve"
    for text in addresses:
        addr = ipaddress.ip_address(text.split("%")[0])
        if not is_public(addr):
            return (
                f"its host {host!r} resolves to {addr}, which is not a public address "
                f"(loopback, private, link-local... destinations are refused)"
            )
    return None
