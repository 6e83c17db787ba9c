"""The template library as a git repository: a push changes hashes, the portals of changed templates
are queued for a resync, and only those. A real repository made with git in tmp_path; the store on
SQLite and PostgreSQL (``store`` from tests/dbfixtures.py)."""

from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from b24app import library
from b24app.cli import main
from b24app.store import PortalState, Settings

BASE = "version: 1\nsources:\n  - {id: CALL, name: Звонок}\n  - {id: EMAIL, name: Почта}\n"
RETAIL = "extends: base.yaml\nsources:\n  - {id: CALL, name: Звонок в магазин}\n"
ACME = "extends: base\nsources:\n  - {id: EMAIL, name: E-mail}\n"
SOLO = "version: 1\nsources:\n  - {id: CALL, name: Call}\n"


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def commit(origin: Path, files: dict[str, str], message: str = "change") -> None:
    for name, text in files.items():
        (origin / name).write_text(text, encoding="utf-8")
    git(origin, "add", "-A")
    git(origin, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)


@pytest.fixture
def origin(tmp_path) -> Path:
    """The integrator's template repository (a plain repository with a work tree, branch main)."""
    folder = tmp_path / "origin"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    commit(folder, {"base.yaml": BASE, "retail.yaml": RETAIL, "acme.yaml": ACME, "solo.yaml": SOLO}, "first")
    return folder


@pytest.fixture
def settings(tmp_path, database_url, origin) -> Settings:
    return Settings(
        instance=tmp_path / "instance",
        database_url=database_url,
        templates=tmp_path / "library",
        templates_repo=str(origin),
    )


def install(store, domain: str, template: str | None, state=PortalState.INSTALLED) -> int:
    portal = store.portals.upsert(
        f"member-{domain}",
        domain=domain,
        client_endpoint=f"https://{domain}/rest/",
        registration_id=None,
        state=state,
    )
    store.portals.assign_template(portal.id, template)
    return portal.id


@pytest.fixture
def portals(store) -> dict[str, int]:
    return {
        "retail1": install(store, "retail1.example.com", "retail"),
        "retail2": install(store, "retail2.example.com", "retail"),
        "acme": install(store, "acme.example.com", "acme"),
        "solo": install(store, "solo.example.com", "solo"),
        "gone": install(store, "gone.example.com", "retail", PortalState.UNINSTALLED),
        "none": install(store, "none.example.com", None),
    }


def requests_of(store, portal_id: int) -> int:
    return sum(r.requests for r in store.resyncs.of_portal(portal_id))


def counts(store, portals: dict[str, int]) -> dict[str, int]:
    return {name: requests_of(store, portal_id) for name, portal_id in portals.items()}


def test_first_sync_clones_and_queues_the_portals_of_templates_seen_for_the_first_time(
    store, settings, portals
):
    report = library.sync_library(store, settings)

    assert report.error is None and report.git.startswith("cloned")
    assert (settings.templates / "retail.yaml").read_text(encoding="utf-8") == RETAIL
    assert sorted(report.hashes) == ["acme", "base", "retail", "solo"]
    assert report.changed == ["acme", "base", "retail", "solo"]
    assert counts(store, portals) == {"retail1": 1, "retail2": 1, "acme": 1, "solo": 1, "gone": 0, "none": 0}
    assert store.template_hashes.all() == report.hashes
    assert store.resyncs.of_portal(portals["acme"])[0].reasons == [
        f"template acme changed ({report.hashes['acme'][:12]})"
    ]


def test_a_push_changing_the_base_queues_every_portal_built_on_it_and_no_other(
    store, settings, origin, portals
):
    library.sync_library(store, settings)
    before = counts(store, portals)

    commit(origin, {"base.yaml": BASE.replace("Почта", "Электронная почта")})
    report = library.sync_library(store, settings)

    assert report.error is None and report.git.startswith("fetched")
    assert report.changed == ["acme", "base", "retail"]
    after = counts(store, portals)
    assert {name: after[name] - before[name] for name in portals} == {
        "retail1": 1,
        "retail2": 1,
        "acme": 1,
        "solo": 0,
        "gone": 0,
        "none": 0,
    }


def test_a_second_sync_with_nothing_changed_queues_nothing(store, settings, origin, portals):
    library.sync_library(store, settings)
    total = store.resyncs.total_requests()

    report = library.sync_library(store, settings)

    assert report.error is None and report.changed == [] and report.queued == report.merged == []
    assert store.resyncs.total_requests() == total


def test_only_the_named_templates_are_compared(store, settings, origin, portals):
    library.sync_library(store, settings)
    commit(
        origin,
        {"base.yaml": BASE + "  - {id: WEB, name: Сайт}\n", "solo.yaml": SOLO + "  - {id: X, name: X}\n"},
    )
    before = counts(store, portals)

    report = library.sync_library(store, settings, ["solo", "unknown"])

    assert report.changed == ["solo"] and report.missing == ["unknown"]
    after = counts(store, portals)
    assert [name for name in portals if after[name] != before[name]] == ["solo"]
    later = library.sync_library(store, settings)  # the others were not recorded: still seen as changed
    assert later.changed == ["acme", "base", "retail"]


def test_a_template_that_does_not_load_has_no_hash_and_its_portals_are_not_queued(
    store, settings, origin, portals
):
    library.sync_library(store, settings)
    commit(origin, {"retail.yaml": "extends: missing.yaml\n"})
    before = counts(store, portals)

    report = library.sync_library(store, settings)

    assert "retail" not in report.hashes and "missing.yaml" in report.unloadable["retail"]
    assert counts(store, portals) == before
    assert "not loadable: retail" in store.events.list()[0].detail


def test_a_checkout_as_the_library_is_updated_with_a_fast_forward_pull(
    store, settings, origin, portals, tmp_path
):
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(origin), str(checkout)], check=True, timeout=60)
    settings = replace(settings, templates=checkout, templates_repo=None)
    library.sync_library(store, settings)

    commit(origin, {"solo.yaml": SOLO.replace("Call", "Phone call")})
    report = library.sync_library(store, settings)

    assert report.git.startswith("pulled") and report.changed == ["solo"]
    assert "Phone call" in (checkout / "solo.yaml").read_text(encoding="utf-8")


def test_a_plain_folder_is_hashed_as_it_is(store, settings, tmp_path, portals):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "solo.yaml").write_text(SOLO, encoding="utf-8")
    report = library.sync_library(store, replace(settings, templates=folder, templates_repo=None))
    assert report.git.startswith("not a git checkout") and report.changed == ["solo"]


def test_an_unreachable_repository_is_journaled_without_its_password(store, settings, portals):
    settings = replace(settings, templates_repo="https://someone:s3cret-pass@127.0.0.1:9/templates.git")

    report = library.sync_library(store, settings)

    assert report.error is not None and report.error.startswith("git clone failed")
    assert "s3cret-pass" not in report.error
    event = store.events.list()[0]
    assert (event.event, event.outcome) == ("library.sync", "failed")
    assert "s3cret-pass" not in event.detail and "127.0.0.1" in event.detail
    assert store.resyncs.total_requests() == 0 and store.template_hashes.all() == {}


def test_a_folder_with_other_files_is_not_overwritten_by_a_clone(store, settings):
    settings = replace(settings, templates_repo="https://someone:s3cret-pass@git.example.com/t.git")
    settings.templates.mkdir(parents=True)
    (settings.templates / "mine.yaml").write_text(SOLO, encoding="utf-8")

    report = library.sync_library(store, settings)

    assert "not a clone of B24APP_TEMPLATES_REPO (https://***@git.example.com/t.git)" in report.error
    assert "s3cret-pass" not in store.events.list()[0].detail
    assert (settings.templates / "mine.yaml").exists()


def test_run_pending_does_nothing_without_a_request(store, settings, portals):
    assert library.run_pending(store, settings) is None
    assert not settings.templates.exists()  # not even cloned


def test_run_pending_does_the_sync_asked_for_once(store, settings, origin, portals):
    store.library.request(["solo"], delivery="gh:one")

    report = library.run_pending(store, settings)

    assert report is not None and report.names == ("solo",) and report.changed == ["solo"]
    assert counts(store, portals)["solo"] == 1 and counts(store, portals)["retail1"] == 0
    assert store.library.pending() is None and store.library.clock("library:synced") is not None
    assert library.run_pending(store, settings) is None


def test_a_request_for_all_wins_over_names(store, settings, portals):
    store.library.request(["solo"], delivery="gh:one")
    store.library.request(None, delivery="gh:two")
    assert store.library.pending().names is None
    report = library.run_pending(store, settings)
    assert report.changed == ["acme", "base", "retail", "solo"]


def test_a_failed_sync_stays_pending_and_waits_before_it_is_tried_again(store, settings, portals):
    settings = replace(settings, templates_repo=str(settings.instance / "no-such-repository"))
    store.library.request(None)

    report = library.run_pending(store, settings)

    assert report.error is not None
    assert store.library.pending() is not None  # asked for, not done
    assert library.run_pending(store, settings) is None  # retried after RETRY_AFTER, not at once


def test_a_request_made_during_a_sync_stays_pending(store, settings, portals):
    store.library.request(None)
    seen = store.library.pending()
    store.library.request(None)  # arrives after the sync read what to do
    store.library.done(seen)
    assert store.library.pending() is not None


def test_the_command_line_syncs_and_prints_the_portals_queued(
    store, settings, origin, portals, monkeypatch, capsys
):
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("B24APP_INSTANCE", str(settings.instance))
    monkeypatch.setenv("B24APP_TEMPLATES", str(settings.templates))
    monkeypatch.setenv("B24APP_TEMPLATES_REPO", str(origin))
    monkeypatch.setenv("B24APP_SECRET_KEY", store.cipher.keys[0].decode())

    assert main(["library", "sync", "--templates", "acme,solo"]) == 0

    out = capsys.readouterr().out
    assert "queued  acme.example.com  (template acme changed)" in out
    assert "queued  solo.example.com" in out and "retail1" not in out
    assert main(["library", "sync", "--templates", "../etc"]) == 1


def test_old_deliveries_are_pruned_timestamped_ones_soon_others_after_months(store):
    from datetime import timedelta

    store.library.request(None, delivery="sw:stamped")
    store.library.request(None, delivery="gh:untimed")
    started = store.now()

    store.now = lambda: started + timedelta(minutes=20)
    assert store.library.prune_deliveries() == 1 and store.library.delivered() == 1
    store.now = lambda: started + timedelta(days=91)
    assert store.library.prune_deliveries() == 1 and store.library.delivered() == 0


# -- several machines: one store, a library folder each ---------------------------------------------


def head(folder: Path) -> str:
    return git(folder, "rev-parse", "HEAD").strip()


@pytest.fixture
def machine_b(settings, tmp_path) -> Settings:
    """A second machine: the same store and repository, a library folder of its own."""
    return replace(settings, templates=tmp_path / "machine-b" / "library")


def test_a_sync_records_the_commit_it_hashed_and_a_plain_folder_forgets_it(store, settings, origin, tmp_path):
    assert store.library.revision() is None
    library.sync_library(store, settings)
    assert store.library.revision() == head(origin) == head(settings.templates)

    plain = tmp_path / "plain"
    plain.mkdir()
    library.sync_library(store, replace(settings, templates=plain, templates_repo=None))
    assert store.library.revision() is None


def test_another_machine_brings_its_folder_to_exactly_the_commit_synced(store, settings, machine_b, origin):
    library.sync_library(store, settings)
    first = head(origin)
    assert library.ensure_current(store, machine_b) == first  # cloned, at the commit hashed
    assert (machine_b.templates / "solo.yaml").read_text(encoding="utf-8") == SOLO

    commit(origin, {"solo.yaml": SOLO.replace("Call", "Phone call")})
    assert library.ensure_current(store, machine_b) == first  # pushed, not synced: nothing to do yet
    library.sync_library(store, settings)  # machine A
    second = head(origin)
    commit(origin, {"solo.yaml": SOLO.replace("Call", "Video call")})  # another push, not synced yet
    assert (machine_b.templates / "solo.yaml").read_text(encoding="utf-8") == SOLO  # stale until...

    assert library.ensure_current(store, machine_b) == second
    assert head(machine_b.templates) == second != head(origin)
    assert "Phone call" in (machine_b.templates / "solo.yaml").read_text(encoding="utf-8")
    assert store.library.revision() == second  # ensure_current records nothing


def test_a_checkout_of_the_user_is_fast_forwarded_to_the_commit_synced(store, settings, origin, tmp_path):
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(origin), str(checkout))
    machine_b = replace(settings, templates=checkout, templates_repo=None)
    commit(origin, {"solo.yaml": SOLO.replace("Call", "Phone call")})
    library.sync_library(store, settings)
    synced = head(origin)
    commit(origin, {"solo.yaml": SOLO.replace("Call", "Video call")})

    assert library.ensure_current(store, machine_b) == synced
    assert head(checkout) == synced
    assert "Phone call" in (checkout / "solo.yaml").read_text(encoding="utf-8")


def test_a_checkout_with_commits_of_its_own_is_refused_clearly_and_kept(store, settings, origin, tmp_path):
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(origin), str(checkout))
    commit(checkout, {"solo.yaml": SOLO.replace("Call", "Local call")}, "mine")
    mine = head(checkout)
    commit(origin, {"solo.yaml": SOLO.replace("Call", "Phone call")})
    library.sync_library(store, settings)

    with pytest.raises(library.LibraryError, match="cannot be brought to commit") as refused:
        library.ensure_current(store, replace(settings, templates=checkout, templates_repo=None))
    assert str(checkout) in str(refused.value) and head(origin)[:12] in str(refused.value)
    assert head(checkout) == mine


def test_a_plain_folder_is_left_alone_unless_a_revision_is_recorded(store, settings, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "solo.yaml").write_text(SOLO, encoding="utf-8")
    machine_b = replace(settings, templates=plain, templates_repo=None)
    assert library.ensure_current(store, machine_b) is None
    assert sorted(p.name for p in plain.iterdir()) == ["solo.yaml"]

    library.sync_library(store, settings)  # machine A's library is a git repository
    with pytest.raises(library.LibraryError, match="is not a git checkout.*set B24APP_TEMPLATES_REPO"):
        library.ensure_current(store, machine_b)


def test_ensure_current_runs_no_git_while_the_recorded_commit_is_unchanged(
    store, settings, machine_b, origin
):
    library.sync_library(store, settings)
    assert library.ensure_current(store, machine_b) == head(origin)
    shutil.rmtree(machine_b.templates / ".git")  # any git command in it would now fail

    assert library.ensure_current(store, machine_b) == head(origin)  # one read of the store, no git

    commit(origin, {"solo.yaml": SOLO.replace("Call", "Phone call")})
    library.sync_library(store, settings)
    with pytest.raises(library.LibraryError, match="holds files but is not a clone"):
        library.ensure_current(store, machine_b)  # a new commit: git runs again


def test_git_in_a_folder_waits_for_the_other_threads_and_processes_of_the_machine(store, settings, machine_b):
    library.sync_library(store, settings)
    finished = threading.Event()
    worker = threading.Thread(
        target=lambda: (library.ensure_current(store, machine_b), finished.set()), daemon=True
    )
    with library.folder_lock(machine_b.templates):  # as a sync or a resync of another process holds it
        worker.start()
        assert not finished.wait(0.5)
        assert not machine_b.templates.exists()
    worker.join(timeout=60)
    assert finished.is_set() and head(machine_b.templates) == store.library.revision()
