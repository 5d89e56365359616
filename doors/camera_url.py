"""A door camera's stream URL, read as a URL: what is accepted, where it may point, how it is
shown, and the address a connection goes to (issue 24 items 1 and 5).

Why so strict: FFmpeg writes the URL into its RTSP request lines, so a CR or LF in it becomes a
request line of its own (against Redis, a command), and the server connects wherever the URL says.
So a camera URL is printable ASCII only (no spaces, no control characters), rtsp or rtsps, with a
host that is a DNS name or an IP literal and a numeric port; credentials live in the userinfo
(`rtsp://user:pass@host/...`, percent-encoded where needed), never in the query string; and,
unless `ingest.allow_private_targets` is set, the host must be (and resolve only to) public
addresses, checked when the camera is saved and again at every connect (events/targets.py).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from events.targets import TargetRefused, check_host, numeric_address, resolve_public

__all__ = ["CameraUrl", "CameraUrlError", "TargetRefused", "check_target", "connect_url", "mask_url",
           "parse_camera_url"]

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}
_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$")
_USERINFO = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:%@]*$")
# query keys that carry credentials on some cameras: refused (they would be shown and logged)
_SECRET_KEYS = {"user", "username", "usr", "login", "password", "passwd", "pass", "pwd", "psw", "token",
                "auth", "key", "secret", "apikey", "api_key", "access_token", "credentials"}
_URL_IN_TEXT = re.compile(r"(?i)(rtsps?://)([^\s'\"<>]*@)")
_SECRET_IN_QUERY = re.compile(r"(?i)([?&;](?:%s)=)[^&;#\s'\"]*" % "|".join(sorted(_SECRET_KEYS, key=len, reverse=True)))


class CameraUrlError(ValueError):
    """The URL is not an acceptable camera URL; the message never repeats its credentials."""


@dataclass(frozen=True)
class CameraUrl:
    scheme: str  # rtsp | rtsps
    host: str  # a DNS name or an IP literal (IPv6 without brackets)
    port: int
    userinfo: str  # "" or "user[:password]" as written (percent-encoded)
    rest: str  # path, query: everything after the authority


def parse_camera_url(url: str) -> CameraUrl:
    """Read `url` as a camera URL or raise CameraUrlError saying what is wrong."""
    if not url or any(not ("!" <= ch <= "~") for ch in url):
        raise CameraUrlError("must be printable ASCII without spaces or control characters "
                             "(percent-encode them, e.g. %40 for @ in a password)")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise CameraUrlError(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise CameraUrlError("must be an rtsp:// or rtsps:// URL")
    if parts.fragment:
        raise CameraUrlError("must not have a #fragment")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if "@" in userinfo or not _USERINFO.match(userinfo):
        raise CameraUrlError("credentials must be user:password in the URL's userinfo, percent-encoded "
                             "(%40 for @, %2F for /)")
    host, port = _host_port(hostport)
    for key, _value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in _SECRET_KEYS:
            raise CameraUrlError(f"credentials belong in the userinfo (rtsp://user:pass@host/...), "
                                 f"not in the query string ({key}=)")
    rest = url[len(parts.scheme) + 3 + len(parts.netloc):]  # urlsplit's netloc ends at the first / ? #
    return CameraUrl(scheme, host, port, userinfo, rest)


def _host_port(hostport: str) -> tuple[str, int]:
    if hostport.startswith("["):
        end = hostport.find("]")
        host, tail = hostport[1:end], hostport[end + 1:]
        if end < 0 or numeric_address(host) is None or ":" not in host:
            raise CameraUrlError("has an invalid IPv6 address")
    else:
        host, colon, port_text = hostport.partition(":")
        tail = colon + port_text
        if not _NAME.match(host):
            raise CameraUrlError("must have a host: a DNS name or an IP address")
    if not tail:
        return host, 0
    if not tail.startswith(":") or not tail[1:].isascii() or not tail[1:].isdigit() or not 0 < int(tail[1:]) < 65536:
        raise CameraUrlError("must have a numeric port between 1 and 65535")
    return host, int(tail[1:])


def check_target(url: str) -> None:
    """What needs no DNS (saving, config loading): the URL is valid and its host is not a
    loopback name or a non-public address in any numeric form."""
    cam = parse_camera_url(url)
    try:
        check_host(cam.host)
    except TargetRefused as exc:
        raise CameraUrlError(f"points at a non-public address: {exc} (ingest.allow_private_targets allows it)") from None


def connect_url(url: str, allow_private: bool) -> str:
    """Blocking (the reader's thread, at every connect): the URL FFmpeg is given. Unless private
    targets are allowed, the host must resolve only to public addresses, and a plain rtsp:// name is
    replaced by the address just checked, so FFmpeg's own lookup cannot be answered differently
    (rtsps keeps its name for TLS). Raises CameraUrlError or TargetRefused with a masked message."""
    cam = parse_camera_url(url)
    if allow_private:
        return url
    try:
        addresses = resolve_public(cam.host, cam.port or DEFAULT_PORTS[cam.scheme])
    except socket.gaierror as exc:
        raise TargetRefused(f"{cam.host} does not resolve ({exc.strerror})") from None
    if cam.scheme == "rtsps" or numeric_address(cam.host) is not None:
        return url
    pinned = f"[{addresses[0]}]" if ":" in addresses[0] else addresses[0]
    authority = (cam.userinfo + "@" if cam.userinfo else "") + pinned + (f":{cam.port}" if cam.port else "")
    return f"{cam.scheme}://{authority}{cam.rest}"


def mask_url(text: str, url: str | None = None) -> str:
    """rtsp://user:pass@host/... -> rtsp://***@host/... anywhere in a text (URLs, error messages),
    credential-like query values -> ***; with `url`, that URL's userinfo and password are also
    removed wherever they appear on their own (a message quoting them in pieces)."""
    masked = text
    if url:  # first the known secrets: a raw @, space or / in them must not split them
        head = url.partition("://")[2].split("?", 1)[0].split("#", 1)[0]
        userinfo = head.rpartition("@")[0]  # up to the last @ (over-masks a path holding one)
        password = userinfo.partition(":")[2]
        for secret in sorted({userinfo, password, unquote(password)}, key=len, reverse=True):
            if len(secret) >= 3:
                masked = masked.replace(secret, "***")
    masked = _URL_IN_TEXT.sub(r"\1***@", masked)
    return _SECRET_IN_QUERY.sub(r"\1***", masked)
