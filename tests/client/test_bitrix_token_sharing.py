"""One portal's token pair shared by several credential objects: the refresh lock, the load and save
hooks, and the rotation race (the OAuth server answers invalid_grant to a refresh token spent elsewhere)."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from portal_fakes import envelope, error

from b24app.bitrix import (
    AuthError,
    MemoryTokenStore,
    OAuthAuth,
    OAuthTokens,
    ProcessRefreshLock,
    TransientError,
)

PROFILE = "https://portal.bitrix24.ru/rest/profile"
TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"
EXPIRED = error("expired_token", "The access token provided has expired.")
FIRST = OAuthTokens("access-1", "refresh-1", None, "https://portal.bitrix24.ru/rest/", member_id="m1")
WAIT = 5  # seconds; only a guard against a test that hangs, never a measured time


class OAuthServer:
    """Bitrix24's token endpoint as far as rotation goes: each refresh token works once."""

    def __init__(self, *, before_answer=None):
        self.valid = {"refresh-1"}
        self.spent: list[str] = []  # refresh tokens sent, in order
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._before_answer = before_answer or (lambda token, wins: None)

    def __call__(self, request):
        token = parse_qs(urlsplit(request.url).query)["refresh_token"][0]
        with self._lock:
            self.spent.append(token)
            wins = token in self.valid
            self.valid.discard(token)
        self._before_answer(token, wins)
        if not wins:
            self.refused.append(token)
            return 400, {}, json.dumps(error("invalid_grant", "Invalid grant"))
        number = int(token.rsplit("-", 1)[1]) + 1
        with self._lock:
            self.valid.add(f"refresh-{number}")
        pair = {"access_token": f"access-{number}", "refresh_token": f"refresh-{number}", "expires_in": 3600}
        return 200, {}, json.dumps(pair)


def portal_accepting(token, *, before_refusing=None):
    def answer(request):
        if json.loads(request.body)["auth"] == token:
            return 200, {}, json.dumps(envelope({"ID": "1"}))
        if before_refusing is not None:
            before_refusing()
        return 401, {}, json.dumps(EXPIRED)

    return answer


def run_together(*jobs):
    """Run each job in its own thread; returns (results, failures)."""
    results, failures = [], []

    def run(job):
        try:
            results.append(job())
        except Exception as failure:
            failures.append(failure)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, failures


class Saved(MemoryTokenStore):
    """The in-process store, remembering each save."""

    def __init__(self, tokens):
        super().__init__(tokens)
        self.saves: list[OAuthTokens] = []
        self.saved_once = threading.Event()

    def save(self, tokens):
        super().save(tokens)
        self.saves.append(tokens)
        self.saved_once.set()


def sharing(store, lock=None, **options):
    """A credential object of the portal, as each process (or request) builds its own."""
    if lock is not None:
        options["lock"] = lock
    return OAuthAuth(FIRST, "local.1", "secret", on_refresh=store.save, load=store.load, **options)


# -- the in-process refresh lock --------------------------------------------------------------------


def test_the_process_lock_lets_one_holder_per_key_in():
    lock = ProcessRefreshLock(wait=0)
    held, release = threading.Event(), threading.Event()

    def hold_a_while():
        with lock.hold("local.1@m1"):
            held.set()
            release.wait(WAIT)

    holder = threading.Thread(target=hold_a_while)
    holder.start()
    held.wait(WAIT)
    try:
        with (
            pytest.raises(TransientError, match="another renewal of this portal's token"),
            lock.hold("local.1@m1"),
        ):
            pass
        with lock.hold("local.1@m2"):  # another portal is not held up
            pass
    finally:
        release.set()
        holder.join()
    with lock.hold("local.1@m1"):  # released
        pass


def test_the_refresh_runs_under_the_lock_keyed_by_app_and_portal(portal):
    class RecordingLock:
        def __init__(self):
            self.held: list[str] = []

        @contextmanager
        def hold(self, key):
            self.held.append(key)
            yield
            self.held.remove(key)

    lock = RecordingLock()
    during_refresh = []

    server = OAuthServer(before_answer=lambda token, wins: during_refresh.append(list(lock.held)))
    portal.add_callback("GET", TOKEN_URL, callback=server)
    auth = sharing(Saved(FIRST), lock=lock)

    auth.refresh(requests.Session())

    assert auth.refresh_key == "local.1@m1"
    assert during_refresh == [["local.1@m1"]] and lock.held == []


def test_a_pair_already_renewed_elsewhere_is_loaded_and_nothing_is_sent(portal):
    store = Saved(FIRST)
    store.save(OAuthTokens("access-2", "refresh-2", None, FIRST.client_endpoint, member_id="m1"))
    auth = sharing(store)

    auth.refresh(requests.Session(), stale_token="access-1")

    assert len(portal.calls) == 0
    assert auth.params() == {"auth": "access-2"}
    assert auth.redact("access-2 refresh-2") == "*** ***"


# -- several credential objects of one portal -------------------------------------------------------


def test_two_threads_with_their_own_credentials_renew_the_pair_once(portal, make_client):
    """Two requests of one process, each with its own OAuthAuth, one store and the process lock."""
    store = Saved(FIRST)
    clients = [make_client(sharing(store)), make_client(sharing(store))]
    both_rejected = threading.Barrier(2, timeout=WAIT)
    server = OAuthServer()
    portal.add_callback(
        "POST", PROFILE, callback=portal_accepting("access-2", before_refusing=both_rejected.wait)
    )
    portal.add_callback("GET", TOKEN_URL, callback=server)

    results, failures = run_together(*(lambda c=client: c.call("profile").result for client in clients))

    assert failures == []
    assert results == [{"ID": "1"}, {"ID": "1"}]
    assert server.spent == ["refresh-1"]
    assert [tokens.refresh_token for tokens in store.saves] == ["refresh-2"]


def test_the_loser_of_a_rotation_race_loads_the_winners_pair(portal, make_client):
    """Two processes (each its own lock) refresh with the same token; the second gets invalid_grant."""
    store = Saved(FIRST)
    both_sent = threading.Barrier(2, timeout=WAIT)

    def race(token, wins):
        both_sent.wait()  # both refresh requests carry refresh-1: each loaded it before the other saved
        if not wins:
            store.saved_once.wait(WAIT)  # the winner's pair is in the store when the loser hears no

    server = OAuthServer(before_answer=race)
    portal.add_callback("POST", PROFILE, callback=portal_accepting("access-2"))
    portal.add_callback("GET", TOKEN_URL, callback=server)
    processes = [make_client(sharing(store, lock=ProcessRefreshLock())) for _ in range(2)]

    results, failures = run_together(*(lambda c=client: c.call("profile").result for client in processes))

    assert failures == []
    assert results == [{"ID": "1"}, {"ID": "1"}]
    assert server.spent == ["refresh-1", "refresh-1"] and server.refused == ["refresh-1"]
    assert [tokens.refresh_token for tokens in store.saves] == ["refresh-2"]
    assert store.load().access_token == "access-2"


def test_invalid_grant_with_nothing_newer_stored_is_raised(portal):
    store = Saved(FIRST)
    server = OAuthServer()
    server.valid.clear()  # refresh-1 was spent and its pair never saved: only re-authorising helps
    portal.add_callback("GET", TOKEN_URL, callback=server)

    with pytest.raises(AuthError, match="refresh token rejected; reinstall/re-authorise the app") as failed:
        sharing(store).refresh(requests.Session())

    assert failed.value.code == "invalid_grant"
    assert store.saves == [] and server.spent == ["refresh-1"]
    assert "refresh-1" not in str(failed.value) and "secret" not in str(failed.value)


def test_the_saved_pair_is_one_frozen_value():
    with pytest.raises(AttributeError):
        FIRST.refresh_token = "refresh-9"
