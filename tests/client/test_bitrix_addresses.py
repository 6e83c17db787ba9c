"""The SSRF guard: which portal addresses b24app may call (resolution injected as a plain function)."""

from __future__ import annotations

import pytest

from b24app.bitrix.addresses import AddressPolicy, AddressRefused, check_portal_url

NAMES = {
    "portal.example": ["93.184.216.34"],
    "v6.example": ["2a00:1450:4001::1"],
    "private.example": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "half.example": ["93.184.216.34", "127.0.0.1"],
    "loop.example": ["127.0.0.1"],
    "nothing.example": [],
}


def resolve(host: str, port: int) -> list[str]:
    return NAMES[host]


PUBLIC = AddressPolicy(resolve=resolve)
DEV = AddressPolicy(allow_loopback=True, resolve=resolve)


@pytest.mark.parametrize(
    "url",
    [
        "https://portal.example/rest/",
        "https://v6.example/rest/",
        "https://8.8.8.8/rest/",
        "https://portal.example./",
    ],
)
def test_public_portals_pass(url):
    checked = check_portal_url(url, PUBLIC)
    assert checked.scheme == "https"
    assert checked.addresses  # what the connection will be allowed to use


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/rest/", "loopback"),
        ("https://[::1]/rest/", "loopback"),
        ("https://loop.example/rest/", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://metadata.example/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://10.0.0.5/rest/", "private"),
        ("https://private.example/rest/", "private"),
        ("https://172.16.3.4/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://[fc00::5]/", "private"),
        ("https://[fd12:3456::1]/", "private"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://[::]/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[ff02::1]/", "multicast"),
        ("https://100.64.0.1/", "carrier-grade NAT"),
        ("https://100.127.255.254/", "carrier-grade NAT"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://[::ffff:a9fe:a9fe]/", "link-local"),
        ("https://[::ffff:10.0.0.5]/", "private"),
        ("https://[64:ff9b::a00:5]/", "private"),
        ("https://[2002:a9fe:a9fe::]/", "link-local"),
        ("https://[::127.0.0.1]/", "loopback"),
        ("https://half.example/", "loopback"),  # one bad address of several is enough
    ],
)
def test_non_public_addresses_are_refused(url, reason):
    with pytest.raises(AddressRefused, match=reason):
        check_portal_url(url, PUBLIC)


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://0x7f000001/",
        "https://0177.0.0.1/",
        "https://127.1/",
        "https://127.000.000.001/",
        "https://10.0.0.05/",
        "https://1.2.3.4.5/",
    ],
)
def test_numeric_tricks_are_refused_even_in_development(url):
    for policy in (PUBLIC, DEV):
        with pytest.raises(AddressRefused, match="non-standard form"):
            check_portal_url(url, policy)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://portal.example/rest/", "https"),
        ("ftp://portal.example/", "https"),
        ("https://user:pw@portal.example/", "user name or password"),
        ("https://portal.example:99999/", "not a valid URL"),
        ("https://[fe80::1%25eth0]/", "zone"),
        ("https://nothing.example/", "no address"),
        ("https://bad_host!.example/", "invalid host"),
    ],
)
def test_malformed_portal_urls_are_refused(url, reason):
    with pytest.raises(AddressRefused, match=reason):
        check_portal_url(url, PUBLIC)


def test_loopback_needs_the_development_flag_and_http_only_goes_there():
    with pytest.raises(AddressRefused, match="loopback.*B24APP_ALLOW_LOOPBACK"):
        check_portal_url("http://127.0.0.1:8025/rest/", PUBLIC)
    assert check_portal_url("http://127.0.0.1:8025/rest/", DEV).addresses == ("127.0.0.1",)
    assert check_portal_url("http://loop.example:8025/rest/", DEV).port == 8025
    assert check_portal_url("https://[::ffff:127.0.0.1]/", DEV).host == "::ffff:127.0.0.1"
    with pytest.raises(AddressRefused, match="https"):
        check_portal_url("http://portal.example/rest/", DEV)


@pytest.mark.parametrize(
    "url", ["https://10.0.0.5/", "https://169.254.169.254/", "https://[fe80::1]/", "https://100.64.0.1/"]
)
def test_the_development_flag_admits_loopback_only(url):
    with pytest.raises(AddressRefused):
        check_portal_url(url, DEV)


def test_origin_of_a_checked_address():
    assert check_portal_url("https://portal.example/rest/", PUBLIC).origin == "https://portal.example"
    assert check_portal_url("http://127.0.0.1:8025/rest/", DEV).origin == "http://127.0.0.1:8025"
