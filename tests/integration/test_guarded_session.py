"""The guarded session connects only to addresses the SSRF guard accepts, at connect time (DNS rebinding)."""

from __future__ import annotations

import pytest

from b24app.bitrix.addresses import AddressPolicy, AddressRefused, check_portal_url, guarded_session
from b24app.bitrix.errors import ProtocolError
from b24app.bitrix.ratelimit import LeakyBucket
from b24app.bitrix.verify import VerifiedPortal, portal_client

from .receiver import Receiver


@pytest.fixture
def app_server():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def port_of(receiver: Receiver) -> int:
    return int(receiver.base_url.rsplit(":", 1)[1])


def test_a_name_that_resolves_to_loopback_is_refused_before_connecting(app_server):
    session = guarded_session(AddressPolicy(resolve=lambda host, port: ["127.0.0.1"]))
    with pytest.raises(AddressRefused, match="loopback"):
        session.get(f"http://portal.test:{port_of(app_server)}/rest/", timeout=5)
    assert app_server.received == []


def test_dns_rebinding_after_the_check_is_caught_at_connect_time(app_server):
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # public when checked, loopback when connecting
    policy = AddressPolicy(resolve=lambda host, port: next(answers))
    url = f"https://rebind.test:{port_of(app_server)}/rest/"
    assert check_portal_url(url, policy).addresses == ("93.184.216.34",)
    with pytest.raises(AddressRefused, match="loopback"):
        guarded_session(policy).get(url, timeout=5)
    assert app_server.received == []


def test_the_connection_goes_to_the_checked_address(app_server):
    # portal.test exists only in the injected resolver: the request can reach the server only
    # through the address the guard checked.
    session = guarded_session(AddressPolicy(allow_loopback=True, resolve=lambda host, port: ["127.0.0.1"]))
    answer = session.get(f"http://portal.test:{port_of(app_server)}/rest/profile", timeout=5)
    assert answer.status_code == 200 and app_server.last("/rest/profile").method == "GET"


@pytest.mark.parametrize("address", ["10.0.0.5", "169.254.169.254", "::ffff:10.0.0.5"])
def test_private_addresses_are_refused_even_in_development(app_server, address):
    session = guarded_session(AddressPolicy(allow_loopback=True, resolve=lambda host, port: [address]))
    with pytest.raises(AddressRefused):
        session.get("https://portal.test/rest/", timeout=5)


def test_numeric_tricks_are_refused_at_connect_time():
    session = guarded_session(AddressPolicy(allow_loopback=True))
    with pytest.raises(AddressRefused, match="non-standard"):
        session.get("http://0x7f.1/rest/", timeout=5)


def test_environment_proxies_are_ignored():
    assert guarded_session().trust_env is False


def test_the_client_for_a_verified_portal_uses_the_guarded_session(app_server):
    endpoint = f"http://portal.test:{port_of(app_server)}/rest/"
    verified = VerifiedPortal("m" * 32, "portal.test", endpoint, "local.1.2", ("crm",), True)
    token = "t" * 40
    refused = portal_client(verified, token, AddressPolicy(resolve=lambda host, port: ["127.0.0.1"]))
    with pytest.raises(AddressRefused, match="loopback"):
        refused.call("user.admin")
    assert app_server.received == []
    dev = AddressPolicy(allow_loopback=True, resolve=lambda host, port: ["127.0.0.1"])
    allowed = portal_client(verified, token, dev, bucket=LeakyBucket())
    with pytest.raises(ProtocolError):  # the stand-in server answers "ok", not JSON
        allowed.call("user.admin")
    assert app_server.last("/rest/user.admin").method == "POST"
