"""Which address a request comes from, for brute-force blocks and audit rows.

Why a setting: behind a reverse proxy or load balancer every caller has the proxy's TCP address,
so a block on "the address" would be a block on everyone. `X-Forwarded-For` is believed only
when the TCP peer is one of `server.trusted_proxies` (CIDRs), and then only back to the first hop
that is not itself a trusted proxy: a client cannot pick its own address by sending the header,
because everything left of the last untrusted hop is the client's own writing.
"""

from __future__ import annotations

import functools
import ipaddress

from aiohttp import web

from api.keys import CONFIG

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    """The trusted proxy networks (config validation rejects a bad CIDR with its value)."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def forwarded_client(peer: str, forwarded_for: list[str], networks: tuple[Network, ...]) -> str:
    """The client address: `peer` unless it is a trusted proxy, else the right-most hop of
    X-Forwarded-For that is not a trusted proxy (a malformed hop ends the walk at the proxy that
    reported it)."""
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for header in forwarded_for for h in header.split(",")]
    address = peer
    for hop in reversed(hops):
        try:
            canonical = str(ipaddress.ip_address(hop))
        except ValueError:
            return address
        address = canonical
        if not _trusted(canonical, networks):
            return canonical
    return address


def client_address(request: web.Request) -> str:
    peer = request.remote or "unknown"
    networks = parse_networks(request.app[CONFIG].server.trusted_proxies)
    return forwarded_client(peer, request.headers.getall("X-Forwarded-For", []), networks)
