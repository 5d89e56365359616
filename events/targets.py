"""Where the server may connect on a client's say-so: the one outbound-target (SSRF) check shared by
webhook delivery (events/) and door cameras (doors.camera_url, streaming/rtsp.py).

Why it works on the host *as the connecting code will see it*: a check on the raw text misses
what the client library does next. yarl (aiohttp's URL type) IDNA/NFKC-normalises `１２７.０.０.１`
or `127。0。0。1` to `127.0.0.1`, and the C resolver (getaddrinfo) reads `2130706433`,
`0x7f000001`, `127.1`, `0177.0.0.1` and `0` as IPv4 addresses. So webhook hosts are normalised
with yarl first, every host is turned into addresses the way getaddrinfo will, and *every*
resulting address must be public; IPv6 forms that embed an IPv4 address (mapped, translated,
NAT64, 6to4, Teredo) are judged by the address they embed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import yarl

# IPv6 prefixes whose low 32 bits are an IPv4 address the packet ends up at (RFC 6052, RFC 6145).
_EMBEDDING_V4 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96"))


class TargetRefused(ValueError):
    """A target host that is, or resolves to, a loopback, private, link-local or reserved address
    (or cannot be judged). The message names the host, never a URL's credentials."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _EMBEDDING_V4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """True only for a globally routable unicast address (an IPv6 embedding one included)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None and not is_public(str(inner)):
            return False
    return ip.is_global and not ip.is_multicast


def url_host(url: str) -> str:
    """The host an aiohttp client will connect to for `url` (yarl's IDNA/NFKC normal form)."""
    try:
        host = yarl.URL(url).host
    except (ValueError, UnicodeError) as exc:
        raise TargetRefused(f"the URL's host cannot be read: {exc}") from None
    if not host:
        raise TargetRefused("the URL has no host")
    return host


def numeric_address(host: str) -> str | None:
    """The address getaddrinfo reads `host` as when it is a numeric form (dotted, decimal, hex,
    octal, short, bracketed IPv6), or None for a name."""
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return str(infos[0][4][0])


def check_host(host: str) -> None:
    """Refuse at once what needs no DNS: loopback names and every numeric form of a non-public
    address. A name passes here; `resolve_public` judges what it resolves to."""
    name = host.lower().rstrip(".")
    if not name:
        raise TargetRefused("the URL has no host")
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        raise TargetRefused(f"{host} is a loopback name")
    address = numeric_address(name)
    if address is not None and not is_public(address):
        raise TargetRefused(f"{host} is not a public address ({address})")


def _judge(host: str, infos: list[tuple]) -> list[str]:
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    bad = [a for a in addresses if not is_public(a)]
    if bad:
        raise TargetRefused(f"{host} resolves to a non-public address ({bad[0]})")
    if not addresses:
        raise TargetRefused(f"{host} resolves to no address")
    return addresses


def resolve_public(host: str, port: int | None = None) -> list[str]:
    """Blocking: every address `host` resolves to, each checked; raises TargetRefused if any is
    not public, socket.gaierror if the name does not resolve. Connect to what it returns (no
    second lookup for a rebinding DNS answer to exploit)."""
    check_host(host)
    return _judge(host, socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM))


async def resolve_public_async(host: str, port: int | None = None) -> list[str]:
    """`resolve_public` on the event loop's resolver (thread pool)."""
    check_host(host)
    infos = await asyncio.get_running_loop().getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    return _judge(host, infos)


async def check_url_async(url: str) -> None:
    """A client-given http(s) URL at creation: numeric forms refused at once; a name that resolves
    now must resolve only to public addresses. A name that does not resolve (yet) is accepted:
    delivery resolves and checks again, so it can never reach a private address later."""
    host = url_host(url)
    check_host(host)
    if numeric_address(host) is not None:
        return
    try:
        await resolve_public_async(host)
    except (socket.gaierror, UnicodeError):
        return
