"""``b24app serve --processes N`` (handlers/serve_processes.py), as a user runs it: N servers on one
port, each answering; SIGTERM stops them all and frees the port; a server that dies stops the rest."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.serve import _listen

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT and /proc: Linux")


def start(tmp_path: Path, *extra: str, session: bool = False) -> tuple[subprocess.Popen, int, list[int]]:
    env = {**os.environ, "B24APP_INSTANCE": str(tmp_path / "instance"), "B24APP_SCHEDULE_MINUTES": "0"}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "b24app.cli", "serve", "--port", "0", "--processes", "2", *extra]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path, start_new_session=session
    )
    lines: list[str] = []
    while not any("serves on" in line for line in lines):
        lines.append(process.stderr.readline())
        assert lines[-1], "".join(lines)
    found = re.search(
        r"serves on http://127\.0\.0\.1:(\d+)/ with 2 processes \(pids (\d+), (\d+);", lines[-1]
    )
    assert found, lines[-1]
    return process, int(found[1]), [int(found[2]), int(found[3])]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.wait(60)
    process.stderr.close()


def sockets(pid: int) -> set[str]:
    """The socket inodes a process holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def tcp(port: int, state: str) -> set[str]:
    """Inodes of the IPv4 sockets on local ``port`` in ``state`` (0A listening, 01 established)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return {
        r.split()[9] for r in rows if int(r.split()[1].split(":")[1], 16) == port and r.split()[3] == state
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_processes_listen_on_one_port_and_both_answer(tmp_path):
    process, port, pids = start(tmp_path)
    connections = []
    try:
        listening = tcp(port, "0A")
        held = [sockets(pid) & listening for pid in pids]
        assert all(len(h) == 1 for h in held) and held[0] != held[1]  # a listening socket each, its own
        for _ in range(24):  # kept open: the kernel spreads them over both servers
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            assert answer.status == 200 and json.loads(answer.read())["status"] == "ok"
            connections.append(connection)
        established = tcp(port, "01")
        assert all(sockets(pid) & established for pid in pids)  # each server answered some of them
    finally:
        for connection in connections:
            connection.close()
        stop(process)
    assert process.returncode == 0
    assert not any(alive(pid) for pid in pids)
    _listen("127.0.0.1", port).close()  # the port is free again


def test_ctrl_c_stops_every_server(tmp_path):
    process, port, pids = start(tmp_path, session=True)
    try:
        os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the parent and its servers
        process.wait(60)
    finally:
        stop(process)
    assert process.returncode == 0
    assert not any(alive(pid) for pid in pids)
    _listen("127.0.0.1", port).close()


def test_a_server_that_dies_stops_the_others(tmp_path):
    process, _, pids = start(tmp_path, "--no-worker")
    try:
        os.kill(pids[1], signal.SIGKILL)
        process.wait(60)
        assert "stopping the others" in process.stderr.read()
    finally:
        stop(process)
    assert process.returncode == 1
    assert not alive(pids[0])


def test_processes_and_the_sandbox_are_refused_together(tmp_path):
    env = {**os.environ, "B24APP_INSTANCE": str(tmp_path / "instance")}
    done = subprocess.run(
        [sys.executable, "-m", "b24app.cli", "serve", "--sandbox", "--processes", "2", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1 and "--sandbox runs in one process" in done.stderr
    assert not (tmp_path / "instance").exists()  # refused before anything was made
