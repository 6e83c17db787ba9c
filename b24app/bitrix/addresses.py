"""The SSRF guard: b24app sends a request to a portal address only if it is a public one.

A portal's address reaches b24app from outside (a POSTed ``client_endpoint``, or even Bitrix24's own
answer), and b24app then sends tokens there. An address that names this machine, the cloud's
metadata service (169.254.169.254) or the private network would turn b24app into a proxy into
places its users cannot reach. So before any request to a portal:

- the URL must be ``https://`` (``http://`` only for loopback, and only when the development
  setting ``allow_loopback`` is on), without a user name or password;
- the host must be a DNS name or a canonical IP literal: numeric tricks such as ``2130706433``,
  ``0x7f.1``, ``0177.0.0.1`` or ``127.1`` (which resolvers read as 127.0.0.1) are refused;
- every address the host resolves to must be public: no loopback, link-local, private, unique-local,
  shared (CGNAT 100.64/10), unspecified, multicast or reserved address, also when wrapped in an
  IPv6 form (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible, 6to4, NAT64). With ``allow_loopback``,
  loopback addresses pass, and still nothing private or link-local.

DNS rebinding (a name that resolves to a public address when checked and to 127.0.0.1 when
connected): :func:`guarded_session` gives a ``requests`` session whose connections resolve the host
themselves, check every address with the same policy and connect to a checked address, so the
check and the connection use the same resolution. TLS still verifies the certificate against the
host name. The session ignores proxy settings from the environment (a proxy would connect instead).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

Resolver = Callable[[str, int], Iterable[str]]
"""``resolve(host, port)`` -> the IP addresses (as text) the host name stands for."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_CANONICAL_IPV4 = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(ValueError):
    """A portal address b24app will not send a request to; the message says why and what to do."""


@dataclass(frozen=True)
class AddressPolicy:
    """Which portal addresses are acceptable; ``resolve`` is the DNS look-up (injectable for tests)."""

    allow_loopback: bool = False
    resolve: Resolver | None = None

    def resolver(self) -> Resolver:
        return self.resolve or system_resolver


PUBLIC_ONLY = AddressPolicy()
"""The production policy: public addresses only, resolved by the machine's resolver."""


@dataclass(frozen=True)
class CheckedAddress:
    """A portal URL that passed the guard, with the addresses its host resolved to when checked."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def origin(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")


def system_resolver(host: str, port: int) -> list[str]:
    """The machine's resolver (``getaddrinfo``); raises :class:`AddressRefused` for an unknown name."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AddressRefused(f"the portal host {host} does not resolve; check the portal's address") from None
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


def check_portal_url(url: str, policy: AddressPolicy = PUBLIC_ONLY) -> CheckedAddress:
    """Check that ``url`` is a portal address b24app may send a request to (see the module's rules).

    Raises :class:`AddressRefused` (a ``ValueError``) with one sentence naming the host and the reason.
    """
    scheme, host, port = _split(url)
    literal = _ip_literal(host)
    addresses = (str(literal),) if literal is not None else tuple(policy.resolver()(host, port))
    if not addresses:
        raise AddressRefused(f"the portal host {host} resolves to no address; check the portal's address")
    for address in addresses:
        check_ip(address, host, policy.allow_loopback)
    if scheme == "http" and not all(_unwrap(ipaddress.ip_address(a)).is_loopback for a in addresses):
        raise AddressRefused(f"the portal address {host} must use https:// (http is for loopback only)")
    return CheckedAddress(url=url.strip(), scheme=scheme, host=host, port=port, addresses=addresses)


def check_ip(address: str, host: str, allow_loopback: bool = False) -> IPAddress:
    """The address as an ``ipaddress`` value, if a portal may live there; else :class:`AddressRefused`."""
    try:
        ip = _unwrap(ipaddress.ip_address(address))
    except ValueError:
        raise AddressRefused(f"the portal host {host} resolved to something that is not an address") from None
    reason = _forbidden(ip, allow_loopback)
    if reason:
        shown = host if host == address else f"{host} ({ip})"
        raise AddressRefused(
            f"the portal address {shown} is {reason}; b24app talks only to portals on public addresses"
            + ("" if allow_loopback else " (B24APP_ALLOW_LOOPBACK=1 admits loopback portals in development)")
        )
    return ip


def _forbidden(ip: IPAddress, allow_loopback: bool) -> str:
    """Why no portal may live at ``ip`` ("" when one may)."""
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "" if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.version == 4 and ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return ""


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 form carries (mapped, compatible, 6to4, NAT64), else ``ip`` itself."""
    if ip.version == 4:
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # NAT64, or IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _split(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise AddressRefused("the portal address is not a valid URL (check the host and the port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("the portal address must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused(f"the portal address {parts.hostname} must not contain a user name or password")
    host = parts.hostname.removesuffix(".")
    if "%" in host:
        raise AddressRefused("the portal address names an IPv6 zone; give a public address")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _ip_literal(host: str) -> IPAddress | None:
    """The address a literal host names; refuses numeric forms other than canonical ones."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise AddressRefused("the portal address has an invalid IPv6 address") from None
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):  # resolvers read it as an IPv4 address
        if not _CANONICAL_IPV4.fullmatch(host):
            raise AddressRefused(
                f"the portal address {host!r} is a number in a non-standard form; give the portal's host name"
            )
        return ipaddress.IPv4Address(host)
    if not _DNS_NAME.fullmatch(host):
        raise AddressRefused(f"the portal address has an invalid host name {host!r}")
    return None


# -- connecting to a checked address -------------------------------------------------------------


class _GuardedConnection:
    """Resolves, checks and connects in one step, so a DNS answer that changes is checked too."""

    policy: AddressPolicy = PUBLIC_ONLY

    def _new_conn(self) -> socket.socket:
        host, port = self._dns_host, self.port  # type: ignore[attr-defined]
        literal = _ip_literal(host)
        candidates = [str(literal)] if literal is not None else list(self.policy.resolver()(host, port))
        if not candidates:
            raise AddressRefused(f"the portal host {host} resolves to no address")
        checked = [str(check_ip(address, host, self.policy.allow_loopback)) for address in candidates]
        error: OSError | None = None
        for address in checked:
            try:
                sock = socket.create_connection((address, port), self.timeout, self.source_address)  # type: ignore[attr-defined]
            except OSError as failure:
                error = failure
                continue
            for option in self.socket_options or ():  # type: ignore[attr-defined]
                sock.setsockopt(*option)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")  # type: ignore[arg-type]


class GuardedAdapter(HTTPAdapter):
    """A ``requests`` adapter whose every connection goes through :class:`_GuardedConnection`."""

    def __init__(self, policy: AddressPolicy, **kwargs: object) -> None:
        self._policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)
        attrs = {"policy": self._policy}
        http = type("GuardedHTTPConnection", (_GuardedConnection, HTTPConnection), attrs)
        https = type("GuardedHTTPSConnection", (_GuardedConnection, HTTPSConnection), attrs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }

    def __getstate__(self) -> dict:  # pragma: no cover - requests pickles adapters rarely
        state = super().__getstate__()
        state["_policy"] = self._policy
        return state


def guarded_session(policy: AddressPolicy = PUBLIC_ONLY) -> requests.Session:
    """A session for talking to portals: each connection goes only to an address the policy accepts."""
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: it would connect in our stead
    adapter = GuardedAdapter(policy)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
