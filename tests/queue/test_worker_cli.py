"""`b24app worker` when its queue cannot be reached: one clear sentence and exit 1, never a flood of
tracebacks, and never the password of the Redis URL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_worker_whose_redis_does_not_answer_says_so_and_exits_1(b24_env):
    url = f"redis://someone:hunter2-secret@127.0.0.1:{free_port()}/0"  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-m", "b24app.cli", "worker", "--workers", "1"],
        env={**os.environ, **b24_env, "REDIS_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "the job queue (Redis at 127.0.0.1:" in done.stderr and "does not answer" in done.stderr
    assert "REDIS_URL" in done.stderr and "Traceback" not in done.stderr
    assert "hunter2" not in done.stdout + done.stderr
