"""Worker processes for the queue's tests: `b24app worker` on the local Redis (a queue name of each
test's own) and a throwaway PostgreSQL database, with short leases and backoffs, against installed
sandbox portals (tests/access/kit.py); and what the tests read back from the journal."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest

from b24app import sync
from b24app.core.template import load_template
from b24app.jobs import Jobs, Tuning
from b24app.portal_access import connect_installed

REDIS_URL = os.environ.get("B24APP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN = {"id": 1, "name": "Admin Adminov"}
FAST = {  # short leases and backoffs: a dead worker is noticed within seconds
    "B24APP_JOB_LEASE": "2",
    "B24APP_JOB_SWEEP": "0.3",
    "B24APP_JOB_RENUDGE": "1",
    "B24APP_JOB_BACKOFF": "0.3",
    "B24APP_JOB_MAX_BACKOFF": "1",
    "B24APP_JOB_CLIENT_ATTEMPTS": "1",
    "B24APP_SCHEDULE_MINUTES": "0",  # only the requests a test makes (the schedule: tests/jobs)
}
FAST_BACKOFF_MIN = timedelta(seconds=float(FAST["B24APP_JOB_BACKOFF"]) / 2)  # the jitter's floor


@pytest.fixture
def backend() -> str:
    """Workers on several machines share PostgreSQL (and Redis): the SQLite file does not do that."""
    return "postgresql"


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable; start it (.ci/run does)")
    finally:
        client.close()
    return REDIS_URL


def queue_env(b24_env: dict[str, str], redis_url: str, tmp_path, example_path) -> dict[str, str]:
    """The kit's environment plus Redis (a queue name of the test's own), the library and FAST (each
    test module's ``b24_env`` fixture returns this, or its own variant)."""
    library = tmp_path / "templates"
    library.mkdir()
    (library / "crm.yaml").write_text(example_path.read_text(encoding="utf-8"), encoding="utf-8")
    (library / "broken.yaml").write_text("lead_stages: [unclosed\n", encoding="utf-8")
    return {
        **b24_env,
        **FAST,
        "REDIS_URL": redis_url,
        "B24APP_QUEUE_NAME": f"b24app-test-{secrets.token_hex(4)}",
        "B24APP_TEMPLATES": str(library),
    }


@pytest.fixture
def jobs(app_store, settings, b24_env):
    queue = Jobs(app_store, settings, tuning=Tuning.from_env(b24_env))
    yield queue
    queue.queue.flush()  # the test's queue keys leave Redis


@pytest.fixture
def workers(b24_env, tmp_path):
    """Start `b24app worker --workers N` processes (their output in files); all killed at the end."""
    started: list[subprocess.Popen] = []

    def start(threads: int = 2, **extra_env: str) -> subprocess.Popen:
        with (tmp_path / f"worker{len(started)}.log").open("w") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                [sys.executable, "-m", "b24app.cli", "worker", "--workers", str(threads)],
                env={**os.environ, **b24_env, **extra_env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


@pytest.fixture
def portal(app_store, sandbox, kit):
    """Portal 0, installed, with the library's crm template assigned and the apply policy."""
    installed = kit.install(sandbox, app_store, 0).portal
    app_store.portals.assign_template(installed.id, "crm")
    app_store.portals.set_policy(installed.id, "apply")
    return app_store.portals.by_id(installed.id)


def converged(app_store, settings, portal_id: int, example_path) -> bool:
    """Over REST: the portal matches the template (a fresh plan has nothing to do)."""
    client = connect_installed(app_store, settings, portal_id)
    plan, _ = sync.make_plan(client, load_template(example_path.read_text(encoding="utf-8"), source="crm"))
    return not plan.has_changes


def runs_of(app_store, portal_id: int):
    return sorted(app_store.runs.list(portal_id, limit=500), key=lambda run: run.id)


def resync_events(app_store, portal_id: int):
    """The event log's notes of the portal's resyncs (b24app.notify writes its own there too)."""
    return [event for event in app_store.events.list(portal_id) if event.event == "resync"]


def settled(app_store) -> bool:
    """No resync waits or runs, and no run is unfinished."""
    return (
        not app_store.resyncs.waiting()
        and not app_store.resyncs.running()
        and not app_store.runs.unfinished()
    )
