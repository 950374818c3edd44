"""Where outbound webhooks may go: a guard against server-side request forgery.

A webhook URL is typed by a workspace, and smsportal's workers POST to it from inside the operator's network, so
a URL naming a private, loopback, link-local, multicast, reserved or unspecified address (IPv4 or IPv6, an IPv4
address inside IPv6 included) is refused — unless settings.WEBHOOK_ALLOW_PRIVATE says this instance may call
its own network. A URL is checked when its rule is saved and again before every connection: the host is resolved,
every address it resolves to must be public, and the connection then goes to one of those very addresses (so a
DNS answer that changes between the check and the connect cannot point it inward).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL = 2000
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """This URL or address may not be called; the message says why, for the person who typed it."""


class Unresolvable(Refused):
    """The host did not resolve: refused when a rule is saved, worth another try when delivering."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(value: str) -> str | None:
    """Why `value` (an IP address) is not a public address, or None when it is."""
    address = ipaddress.ip_address(value.split("%", 1)[0])  # a scoped IPv6 address: its scope names an interface
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return address_problem(str(inner))
    for name in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{name}"):
            return f"a {name.replace('_', '-')} address"
    if not address.is_global:  # shared address space (100.64/10) and other special ranges
        return "not a public address"
    return None


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order (tests replace this: no network there)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def vetted_addresses(host: str, port: int) -> list[str]:
    """The addresses to connect to for `host`; Refused if it does not resolve or any address is not public."""
    literal = True
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        addresses = [host]
    except ValueError:
        literal = False
        try:
            addresses = resolve_host(host, port)
        except (OSError, UnicodeError) as exc:
            raise Unresolvable(f"The host {host} could not be resolved ({exc}).") from None
        if not addresses:
            raise Unresolvable(f"The host {host} has no address.")
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            problem = address_problem(address)
            if problem:
                what = f"{host} is {problem}" if literal else f"{host} resolves to {address}, {problem}"
                raise Refused(f"Refused: {what}. Webhooks go to public addresses only.")
    return addresses


def url_parts(url: str):
    """urlsplit of a webhook URL that has the shape smsportal can call; Refused with the reason otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise Refused("Enter the URL to POST to, like https://example.com/hooks/sms.")
    url = url.strip()
    if len(url) > MAX_URL:
        raise Refused(f"The URL is too long (at most {MAX_URL} characters).")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise Refused("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"This is not a valid URL ({exc}).") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("The URL must start with https:// (or http://).")
    if not parts.hostname:
        raise Refused("The URL has no host name.")
    if parts.username is not None or parts.password is not None:
        raise Refused("Credentials in the URL are not sent; check the X-Smsportal-Signature header instead.")
    if port == 0:
        raise Refused("The URL's port must be between 1 and 65535.")
    return parts


def default_port(parts) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def check_url(url: str) -> str:
    """The URL, trimmed, if a webhook may be sent to it now; Refused otherwise (a rule's save calls this)."""
    parts = url_parts(url)
    vetted_addresses(parts.hostname, default_port(parts))
    return url.strip()
