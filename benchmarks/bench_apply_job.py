"""One-click Apply of the example template on a fresh sandbox portal, as the web page runs it.

Run: python benchmarks/bench_apply_job.py      (target: the same request count as the CLI, ≤ 6,
                                                 and zero 503 answers)

A sandbox portal gets b24app installed through the real OAuth authorization-code flow; the
page's plan (a job) and then its Apply (a job with the plan's checksum) run on the embedded
queue, as `b24app serve` runs them. The requests are the run's own count (recorded in the
journal) and the sandbox's count of refused (503) answers.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

from b24app.jobs import Jobs
from b24app.sandbox.server import Sandbox
from b24app.store import Settings, Store, new_key

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "b24app" / "examples" / "crm.yaml"
ADMIN = {"id": 1, "name": "Admin"}


def _kit():
    spec = importlib.util.spec_from_file_location("kit", ROOT / "tests" / "access" / "kit.py")
    kit = importlib.util.module_from_spec(spec)
    sys.modules["kit"] = kit  # dataclasses look their module up
    spec.loader.exec_module(kit)
    return kit


def _finished(jobs: Jobs, run_id: int):
    while (status := jobs.status(run_id)).state in ("queued", "running"):
        time.sleep(0.05)
    return status


def main() -> None:
    box = Sandbox(host="127.0.0.1", port=0, portals=1, lang="ru").start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            env = {
                "B24APP_INSTANCE": str(Path(folder) / "instance"),
                "B24APP_SECRET_KEY": new_key(),
                "B24APP_OAUTH_URL": box.oauth_url,
                "B24APP_ALLOW_LOOPBACK": "1",
            }
            settings = Settings.from_env(env, cwd=Path(folder))
            store = Store.open(settings)
            portal = _kit().install(box, store).portal
            jobs = Jobs(store, settings)
            jobs.start_consumer()
            text = EXAMPLE.read_text(encoding="utf-8")
            started = time.perf_counter()
            planned = _finished(jobs, jobs.submit_plan(portal.id, "crm", text, ADMIN))
            checksum = planned.outcome_json["checksum"]
            applied = _finished(jobs, jobs.submit_apply(portal.id, "crm", text, checksum, ADMIN))
            wall = time.perf_counter() - started
            jobs.stop_consumer()
            refused = sum(h.bucket.refused for h in box.portals)
            plan_requests = store.runs.get(planned.run_id).requests_used
            print(
                f"plan job: {plan_requests} request(s); apply job: {applied.outcome_json['requests']} "
                f"request(s), outcome {applied.outcome_json['outcome']}; 503 answers: {refused}; "
                f"wall {wall:.2f} s"
            )
            store.close()
    finally:
        box.stop()


if __name__ == "__main__":
    main()
