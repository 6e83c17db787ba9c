"""The whole way from a push to the portals, as an integrator runs it: the template library is a git
repository; a signed webhook announces a push; a worker process (on Redis and PostgreSQL) updates the
library, finds the templates whose content changed and resyncs exactly the portals assigned to them —
applying on a portal whose policy is ``apply``, telling the admin of a ``report`` portal about the drift
inside Bitrix24 — and a replay of the same delivery is refused and queues nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess

import pytest

from b24app import sync
from b24app.core.template import load_template
from b24app.portal_access import connect_installed
from b24app.store import RunKind, RunOutcome
from handlers import create_app
from tests.queue.workerkit import queue_env, runs_of, settled

SECRET = "push-secret-of-the-integrator-0123456789"
OLD, NEW = "Входящий звонок", "Звонок в офис"


def git(cwd, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def remote(tmp_path, example_path):
    """The integrator's template repository: crm.yaml (the example) and other.yaml (no portal uses it)."""
    repo = tmp_path / "remote"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "crm.yaml").write_text(example_path.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "other.yaml").write_text("version: 1\nsources: [{id: CALL, name: Звонок}]\n", encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "templates")
    return repo


@pytest.fixture
def b24_env(b24_env, redis_url, remote, tmp_path, example_path):
    """The library is b24app's clone of the remote repository; the schedule is off (only the push acts)."""
    return {
        **queue_env(b24_env, redis_url, tmp_path, example_path),
        "B24APP_TEMPLATES": str(tmp_path / "library"),
        "B24APP_TEMPLATES_REPO": str(remote),
        "B24APP_WEBHOOK_SECRET": SECRET,
        "B24APP_SCHEDULE_MINUTES": "0",
    }


def push(client, body: dict):
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(
        "/hooks/resync",
        data=raw,
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )


def in_sync_with(app_store, settings, portal_id: int, text: str) -> bool:
    """Over REST: a fresh plan of ``text`` against the portal has nothing to do."""
    plan, _ = sync.make_plan(
        connect_installed(app_store, settings, portal_id), load_template(text, source="crm")
    )
    return not plan.has_changes


def test_a_push_resyncs_exactly_the_portals_of_the_changed_template(
    app_store, settings, sandbox, kit, workers, remote, example_path
):
    applying = kit.install(sandbox, app_store, 0).portal
    reporting = kit.install(sandbox, app_store, 1, scopes=("crm", "user", "im")).portal
    for portal, policy in ((applying, "apply"), (reporting, "report")):
        app_store.portals.assign_template(portal.id, "crm")
        app_store.portals.set_policy(portal.id, policy)
    app_store.portals.set_admin(reporting.id, 1)
    client = create_app(settings, store=app_store, start_jobs=False).test_client()
    workers(threads=2)

    # The first push: the library is cloned and hashed; both portals are resynced against crm.yaml.
    first = {"ref": "refs/heads/main", "after": "1", "commits": [{"id": "1"}]}
    assert push(client, first).status_code == 202
    kit.wait_for(lambda: len(runs_of(app_store, reporting.id)) >= 1 and settled(app_store), [], timeout=60)
    original = example_path.read_text(encoding="utf-8")
    assert in_sync_with(app_store, settings, applying.id, original)  # applied by policy
    assert not in_sync_with(app_store, settings, reporting.id, original)  # only reported
    told = sandbox.notifications(1, user_id=1)
    assert len(told) == 1 and "marketplace/app/" in told[0]["message"]
    assert [run.kind for run in runs_of(app_store, reporting.id)] == [RunKind.PLAN]

    # A replay of that delivery: refused, nothing asked for.
    assert push(client, first).status_code == 401
    assert app_store.resyncs.total_requests() == 0 and app_store.library.pending() is None

    # The integrator renames a source in crm.yaml and pushes: crm's portals are resynced.
    (remote / "crm.yaml").write_text(original.replace(OLD, NEW), encoding="utf-8")
    git(remote, "commit", "-q", "-am", "rename a source")
    before = {portal.id: len(runs_of(app_store, portal.id)) for portal in (applying, reporting)}
    assert push(client, {"ref": "refs/heads/main", "after": "2", "commits": [{"id": "2"}]}).status_code == 202
    kit.wait_for(
        lambda: len(runs_of(app_store, reporting.id)) > before[reporting.id] and settled(app_store),
        [],
        timeout=60,
    )
    assert in_sync_with(app_store, settings, applying.id, original.replace(OLD, NEW))
    applies = [run for run in runs_of(app_store, applying.id) if run.kind == RunKind.APPLY]
    assert [run.outcome for run in applies] == [RunOutcome.APPLIED, RunOutcome.APPLIED]
    assert applies[-1].user_name.startswith("resync: template crm changed")

    # A push that changes only a template no portal uses resyncs nobody.
    (remote / "other.yaml").write_text("version: 1\nsources: [{id: CALL, name: Звонок!}]\n", encoding="utf-8")
    git(remote, "commit", "-q", "-am", "other")
    counts = {portal.id: len(runs_of(app_store, portal.id)) for portal in (applying, reporting)}
    assert push(client, {"templates": "all"}).status_code == 202
    kit.wait_for(lambda: app_store.library.pending() is None, [], timeout=60)
    assert {portal.id: len(runs_of(app_store, portal.id)) for portal in (applying, reporting)} == counts
    hashes = app_store.template_hashes.all()
    assert set(hashes) == {"crm", "other"}
    assert settings.templates.joinpath("other.yaml").read_text(encoding="utf-8").endswith("Звонок!}]\n")
