"""Remove each safety guard of the triggers and the queue in turn and check that a test fails.

Run: python tools/guard_mutations.py [NAME ...]   (from the repository root; ~5–10 minutes)

Each mutation replaces one exact snippet of the source (it must occur once), runs the tests that
should notice, and restores the file whatever happens. A mutation whose tests still pass
"survived": its guard is not proven. Exit 1 when any survived.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "webhook: a wrong GitHub signature is accepted",
        "handlers/hooks.py",
        "if not hmac.compare_digest(expected, bytes.fromhex(match.group(1))):",
        "if False:",
        ("tests/web/test_hooks.py",),
    ),
    Mutation(
        "webhook: a wrong Standard Webhooks (GitLab) signature is accepted",
        "handlers/hooks.py",
        "    if not matched:\n        raise Refused(",
        "    if False:\n        raise Refused(",
        ("tests/web/test_hooks.py",),
    ),
    Mutation(
        "webhook: a stale or future timestamp is accepted",
        "handlers/hooks.py",
        "if abs(now - int(timestamp)) > TOLERANCE:",
        "if False:",
        ("tests/web/test_hooks.py",),
    ),
    Mutation(
        "webhook: a replayed delivery is accepted",
        "b24app/store/library.py",
        '            raise DeliveryReplayed("this signed delivery was accepted before") from None',
        "            return None",
        ("tests/web/test_hooks.py", "tests/store/test_sync_writer.py"),
    ),
    Mutation(
        "database: a pooled PostgreSQL connection that died while idle is used unchecked",
        "b24app/store/db.py",
        '    event.listen(engine, "checkout", ping)',
        "    pass",
        ("tests/store/test_pool_ping.py",),
    ),
    Mutation(
        "database: a vanished machine's sessions (and portal locks) live on for hours (no keepalives)",
        "b24app/store/db.py",
        '        args["options"] = SERVER_KEEPALIVES',
        "        pass",
        ("tests/store/test_pool_ping.py",),
    ),
    Mutation(
        "events: a wrong application_token is accepted",
        "handlers/events.py",
        "if not same_secret(portal.application_token, event.auth.application_token):",
        "if False:",
        ("tests/web/test_events_resync.py",),
    ),
    Mutation(
        "resync: two workers may run one portal at once (no portal lock)",
        "b24app/jobs.py",
        "            stack.enter_context(named_lock(store, name, timeout=0, lease=lease))",
        "            pass",
        ("tests/queue/test_workers.py",),
    ),
    Mutation(
        "resync: a dead worker's claim is never taken back",
        "b24app/jobs.py",
        "        for stale in self.store.resyncs.recover():",
        "        for stale in ():",
        ("tests/queue/test_workers.py", "tests/queue/test_resync_rows.py"),
    ),
    Mutation(
        "resync: a report portal is applied too (policy ignored)",
        "b24app/resync.py",
        "if portal.policy == APPLY_POLICY and plan.has_changes and not plan.refused:",
        "if plan.has_changes and not plan.refused:",
        ("tests/queue/test_push_to_resync.py", "tests/integration/test_notify.py"),
    ),
    Mutation(
        "schedule: every worker ticks (no lock)",
        "b24app/schedule.py",
        "with store.lock(LOCK, timeout=wait):",
        "if True:",
        ("tests/jobs/test_schedule.py",),
    ),
    Mutation(
        "fleet view: no sign-in needed",
        "handlers/fleet.py",
        'if request.endpoint not in ("fleet.login_form", "fleet.login") and not _signed_in():',
        "if False:",
        ("tests/web/test_fleet.py",),
    ),
    Mutation(
        "fleet view: POSTs without the CSRF token",
        "handlers/fleet.py",
        "if not expected or not given or not hmac.compare_digest(_digest(given), _digest(expected)):",
        "if False:",
        ("tests/web/test_fleet.py",),
    ),
    Mutation(
        "notify: the same drift is told on every plan",
        "b24app/notify.py",
        "    if run.checksum == portal.drift_checksum:",
        "    if False:",
        ("tests/integration/test_notify.py",),
    ),
    Mutation(
        "journal: a changed portal state is compacted into the earlier run",
        "b24app/store/journal.py",
        'if not isinstance(result, dict) or result.get("state_digest") != state_digest:',
        "if not isinstance(result, dict):",
        ("tests/integration/test_resync_compaction.py", "tests/store/test_run_confirm.py"),
    ),
    Mutation(
        "library: a resync reads this machine's folder without bringing it to the synced commit",
        "b24app/resync.py",
        "    _library_current(store, settings)\n",
        "",
        ("tests/integration/test_library_machines.py",),
    ),
    Mutation(
        "library: a worker's periodic duty leaves its machine's folder behind",
        "b24app/jobs.py",
        "            library.ensure_current(self.store, self.settings)\n",
        "            pass\n",
        ("tests/integration/test_library_machines.py",),
    ),
    Mutation(
        "library: a sync queues resyncs without recording the commit it hashed",
        "b24app/library.py",
        "        store.library.record_revision(revision)",
        "        pass",
        ("tests/integration/test_library_machines.py", "tests/integration/test_library.py"),
    ),
    Mutation(
        "library: ensure_current runs git in a folder another process is changing",
        "b24app/library.py",
        "    with folder_lock(settings.templates):\n        recorded = store.library.revision()",
        "    if True:\n        recorded = store.library.revision()",
        ("tests/integration/test_library.py",),
    ),
)


def run(mutation: Mutation) -> bool:
    """True when a test failed (the mutation is killed)."""
    path = ROOT / mutation.path
    original = path.read_text(encoding="utf-8")
    if original.count(mutation.old) != 1:
        raise SystemExit(
            f"{mutation.name}: the snippet is not in {mutation.path} exactly once; update this script"
        )
    mutated = original.replace(mutation.old, mutation.new)
    try:
        path.write_text(mutated, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutation.tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        path.write_text(original, encoding="utf-8")
    return done.returncode != 0


def main(names: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not names or any(n in m.name for n in names)]
    survived = []
    for mutation in chosen:
        started = time.monotonic()
        killed = run(mutation)
        print(
            f"{'killed  ' if killed else 'SURVIVED'} {mutation.name} ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        if not killed:
            survived.append(mutation.name)
    print(f"{len(chosen)} mutations: {len(chosen) - len(survived)} killed, {len(survived)} survived")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
