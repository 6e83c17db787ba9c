"""Several machines, one store: the template library's folder is per machine. A sync on machine A
records the commit it hashed and queues the portals; the resync, done by a worker on machine B,
first brings B's own folder to that commit, so the portal gets the new template and not B's stale
copy. Two library folders and one repository made with git in tmp_path; an installed sandbox portal
over real HTTP; the store on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from b24app import library, resync, runs
from b24app.jobs import Jobs
from b24app.store import RunKind, RunOutcome, Settings
from tests.access import kit

sandbox, b24_env, settings, app_store = kit.sandbox, kit.b24_env, kit.settings, kit.app_store
OLD = "version: 1\nsources:\n  - {id: TELEGRAM, name: Телеграм, sort: 90}\n"
NEW = OLD.replace("Телеграм", "Телеграм-канал")
WORKER = "machine-b:1"


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


@pytest.fixture
def origin(tmp_path) -> Path:
    """The integrator's template repository: t.yaml (branch main)."""
    folder = tmp_path / "origin"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    (folder / "t.yaml").write_text(OLD, encoding="utf-8")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "first")
    return folder


@pytest.fixture
def machines(settings, origin, tmp_path) -> tuple[Settings, Settings]:
    """Machines A and B: the same store and repository, a library folder each."""
    return tuple(
        replace(settings, templates=tmp_path / name / "library", templates_repo=str(origin))
        for name in ("machine-a", "machine-b")
    )


@pytest.fixture
def portal(sandbox, app_store):
    """Portal 0 installed, assigned the library template ``t``, applied by policy."""
    installed = kit.install(sandbox, app_store, scopes=("crm", "im", "user")).portal
    app_store.portals.assign_template(installed.id, "t")
    app_store.portals.set_policy(installed.id, "apply")
    return app_store.portals.by_id(installed.id)


def resync_on(store, machine: Settings, portal_id: int):
    """One resync, as a worker of ``machine`` does it; the run it ended with."""
    done = resync.resync(
        store, machine, portal_id, ["template t changed"], worker=WORKER, on_run=lambda _: None
    )
    assert done.run is not None
    return done.run


def source_name(sandbox, status_id: str) -> str | None:
    answer = requests.post(
        sandbox.portals[0].webhook_url + "crm.status.list",
        json={"filter": {"ENTITY_ID": "SOURCE"}},
        timeout=5,
    )
    answer.raise_for_status()
    return next((row["NAME"] for row in answer.json()["result"] if row["STATUS_ID"] == status_id), None)


def test_a_resync_on_another_machine_applies_the_template_the_sync_hashed(
    sandbox, app_store, machines, origin, portal
):
    machine_a, machine_b = machines
    library.sync_library(app_store, machine_a)
    first = resync_on(app_store, machine_b, portal.id)  # B had no library yet: cloned at the commit
    assert first.template_hash == runs.template_hash(OLD) and source_name(sandbox, "TELEGRAM") == "Телеграм"

    (origin / "t.yaml").write_text(NEW, encoding="utf-8")
    git(origin, "commit", "-q", "-am", "rename a source")
    report = library.sync_library(app_store, machine_a)
    assert report.changed == ["t"] and report.queued + report.merged == [(portal.domain, "t")]
    assert (machine_b.templates / "t.yaml").read_text(encoding="utf-8") == OLD  # B's folder: stale

    second = resync_on(app_store, machine_b, portal.id)

    assert (second.kind, second.outcome) == (RunKind.APPLY, RunOutcome.APPLIED)
    assert second.template_hash == runs.template_hash(NEW)
    assert source_name(sandbox, "TELEGRAM") == "Телеграм-канал"


def test_a_folder_that_cannot_be_brought_to_the_commit_is_a_temporary_failure(
    sandbox, app_store, machines, portal, tmp_path
):
    machine_a, machine_b = machines
    library.sync_library(app_store, machine_a)
    unreachable = replace(machine_b, templates_repo=str(tmp_path / "no-such-repository"))

    with pytest.raises(resync.ResyncFailed, match="cannot be brought to commit") as failed:
        resync_on(app_store, unreachable, portal.id)

    assert failed.value.temporary and resync.is_temporary(failed.value)
    assert app_store.runs.list(portal.id) == []  # nothing planned, nothing applied
    assert source_name(sandbox, "TELEGRAM") is None


def test_each_worker_s_periodic_duty_brings_its_machine_s_folder_to_the_commit(
    app_store, machines, origin, tmp_path, caplog
):
    machine_a, machine_b = machines
    library.sync_library(app_store, machine_a)

    Jobs(app_store, machine_b).library_duty()  # nothing pending: only B's folder is brought along

    assert git(machine_b.templates, "rev-parse", "HEAD").strip() == app_store.library.revision()
    assert (machine_b.templates / "t.yaml").read_text(encoding="utf-8") == OLD
    unreachable = replace(machine_b, templates=tmp_path / "c", templates_repo=str(tmp_path / "nowhere"))
    Jobs(app_store, unreachable).library_duty()  # a warning, not a dead duty
    assert "cannot be brought to commit" in caplog.text
