"""``b24app serve --processes N``: N server processes on one port (Linux ``SO_REUSEPORT``).

One Python process runs its request threads on about one core (the GIL); N processes, each with
its own app, store and connection pool, can use N. Each binds the address with ``SO_REUSEPORT`` and
the kernel spreads new connections over them. This process only starts and watches them: it holds
the port first (so that ``--port 0`` picks one port for all, and a port in use fails here, at once),
migrates the database once (the servers then find it migrated), starts the servers (the job worker
runs in the first only, none with ``--no-worker``) and stops them all on SIGTERM or Ctrl-C, or when
one of them stops: a server that died is not hidden behind the others.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO, Any

from handlers import serve

MAX_PROCESSES = 32
STOP_WAIT = 20.0  # seconds a server has to stop after SIGTERM before it is killed
START_WAIT = 60.0  # seconds a server has to start listening
INTERRUPT_GRACE = 5.0  # seconds the servers have to stop on their own Ctrl-C


def run(args: Any) -> int:
    problem = _refusal(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        holder = serve._listen(args.host, args.port, reuse_port=True)
    except OSError as error:
        print(
            f"error: cannot listen on {args.host}:{args.port} ({error.strerror}); pick another --port",
            file=sys.stderr,
        )
        return 1
    processes: list[subprocess.Popen] = []  # every server started, stopped whatever happens
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop as on Ctrl-C: the finally block runs
    grace = 0.0
    try:
        with holder:  # the servers hold the port once they listen
            if not _migrated():
                return 1
            url = _start_all(args, holder.getsockname()[1], processes)
        if url is None:
            return 1
        return _watch(processes, url)
    except KeyboardInterrupt:  # Ctrl-C reached the servers too: let them finish before SIGTERM
        grace = INTERRUPT_GRACE
        return 0
    finally:
        _stop(processes, grace)


def _refusal(args: Any) -> str | None:
    if not 1 <= args.processes <= MAX_PROCESSES:
        return f"--processes must be between 1 and {MAX_PROCESSES}"
    if args.sandbox:
        return "--sandbox runs in one process: leave out --processes"
    if not hasattr(socket, "SO_REUSEPORT"):
        return "--processes needs SO_REUSEPORT (Linux); run one `b24app serve` per port behind your proxy instead"
    return None


def _migrated() -> bool:
    """The database migrated once, here, before the servers open it."""
    from b24app.store import Settings, SettingsError, Store, StoreError

    try:
        settings = Settings.from_env(os.environ)
        Store.open(settings).close()
    except (SettingsError, StoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    if not settings.public_url:
        print(
            "warning: B24APP_PUBLIC_URL is not set; portals cannot install b24app until it is",
            file=sys.stderr,
        )
    return True


def _command(args: Any, port: int, worker: bool) -> list[str]:
    command = [sys.executable, "-m", "b24app.cli", "serve", "--host", args.host, "--port", str(port)]
    command += ["--threads", str(args.threads), "--reuse-port"]
    return command + ([] if worker else ["--no-worker"])


def _start_all(args: Any, port: int, processes: list[subprocess.Popen]) -> str | None:
    """Start the servers into ``processes``, each until it listens; the address they serve on, or None
    when one failed to start."""
    if args.no_worker:
        print("no job worker here: run `b24app worker` (same settings) to run jobs", file=sys.stderr)
    url = None
    for number in range(args.processes):
        process = subprocess.Popen(
            _command(args, port, worker=number == 0 and not args.no_worker),
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        line = _started(process)
        if line is None:
            print(f"error: server process {number + 1} did not start (see above); stopping", file=sys.stderr)
            return None
        threading.Thread(target=_pump, args=(process.stderr,), daemon=True).start()
        url = line.split("serves on ", 1)[1].split()[0]
    return url


def _started(process: subprocess.Popen) -> str | None:
    """Its "serves on" line, passing on what it says before; None if it stops first or takes too long."""
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            return None
        if "serves on" in line:
            return line
        sys.stderr.write(line)
    return None


def _pump(stream: IO[str]) -> None:
    """A server's log lines, passed on to ours."""
    for line in stream:
        sys.stderr.write(line)


def _watch(processes: list[subprocess.Popen], url: str) -> int:
    """Until a signal (0) or until one server stops (1: the others are stopped too)."""
    pids = ", ".join(str(p.pid) for p in processes)
    print(
        f"b24app serves on {url} with {len(processes)} processes (pids {pids}; Ctrl-C stops them)",
        file=sys.stderr,
        flush=True,
    )
    while all(p.poll() is None for p in processes):
        time.sleep(0.5)
    stopped = next(p for p in processes if p.returncode is not None)
    print(
        f"error: server process {stopped.pid} stopped (exit code {stopped.returncode}); stopping the others",
        file=sys.stderr,
    )
    return 1


def _stop(processes: list[subprocess.Popen], grace: float = 0.0) -> None:
    """SIGTERM to each server still running after ``grace`` seconds (each stops as on Ctrl-C), then
    wait; kill the ones that hang."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
        time.sleep(0.1)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
