"""Hostile templates through the command line: one clear error, exit 1, no traceback, no request.

`validate`, `plan` and `apply` read a template the same way; each hostile shape is tried on each.
The files that could take the machine down if a guard were missing (billion laughs, /dev/zero, a
10 GB sparse file) run in a child process under a 1 GB address-space limit and a timeout, so a
regression fails the test instead of the machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from b24app.core.limits import MAX_TEMPLATE_BYTES

from .conftest import run

# A portal nobody answers at: a command that got past the template would fail on the connection.
NO_PORTAL = "http://127.0.0.1:9/rest/1/abc123/"
ADDRESS_SPACE = 2**30


def laughs(levels: int = 6) -> str:
    """9**levels values once expanded; 6 is just past the bound (in-process tests stay safe without it)."""
    lines = ["version: 1", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE = {
    "billion laughs": (
        laughs(),
        ":7: aliases make the template stand for more than 100,000 values (here, at *l4)",
    ),
    "deep brackets": ("version: 1\nsources: " + "[" * 50_000 + "\n", ":2: nested more than 32 levels deep"),
    "deep dashes": ("version: 1\nsources:\n" + "- " * 50_000 + "x\n", ":3: nested more than 32 levels deep"),
    "long list": (
        "version: 1\nsources: [" + ", ".join(["a"] * 100_000) + "]\n",
        ":2: this list has more than 1,000 items",
    ),
    "many keys": (
        "version: 1\nsources:\n  - {" + ", ".join(f"k{i}: 1" for i in range(50_000)) + "}\n",
        ":3: this mapping has more than 100 keys",
    ),
    "huge name": (
        'version: 1\nsources:\n  - {id: A, name: "' + "x" * 1_500_000 + '"}\n',
        ":3: sources[0].name: is too long (1,500,000 > 100 characters)",
    ),
    "huge id": (
        "version: 1\nsources:\n  - {id: " + "I" * 1_500_000 + ", name: a}\n",
        f":3: sources[0].id: id '{'I' * 40}… (1,500,000 characters)' is too long",
    ),
    "python tag": (
        'version: 1\nsources: !!python/object/apply:os.system ["echo pwned"]\n',
        ":2: sources: unsupported YAML tag !!python/object/apply:os.system",
    ),
    "huge number": (
        "version: 1\nsources: [{id: A, name: a, sort: " + "9" * 10_000 + "}]\n",
        ":2: sources[0].sort: cannot read '999",
    ),
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_clear_error(code: int, out: str, err: str, expected: str) -> None:
    assert code == 1, (out, err[-2000:])
    assert err.startswith("error: the template is not valid (1 problem(s)):\n"), err[-2000:]
    assert expected in err and " — " in err, err[-2000:]  # what, where (file:line) and how to fix
    assert "Traceback" not in err + out and "unexpected" not in err
    assert len(err) < 1_000 and out == ""


@pytest.mark.parametrize(("text", "expected"), HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize(
    "command",
    [["validate"], ["plan", "--portal", NO_PORTAL], ["apply", "--portal", NO_PORTAL, "--yes"]],
    ids=["validate", "plan", "apply"],
)
def test_a_hostile_template_is_one_clear_error(capsys, tmp_path, text, expected, command) -> None:
    path = write(tmp_path, text)
    code, out, err = run(capsys, command[0], str(path), *command[1:])
    assert_one_clear_error(code, out, err, f"{path}{expected}")


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(capsys, tmp_path) -> None:
    path = write(tmp_path, "version: 1\n" + "#" * MAX_TEMPLATE_BYTES + "\n")
    code, out, err = run(capsys, "validate", str(path))
    assert code == 1 and out == ""
    assert err == (
        f"error: template {path} is larger than 2.0 MB, the most b24app reads; give the right file, "
        "or split it (10,000 template entries take about 0.7 MB)\n"
    )


def test_a_file_of_exactly_the_size_limit_is_read(capsys, tmp_path) -> None:
    head = "version: 1\nsources: [{id: A, name: a}]\n"
    path = write(tmp_path, head + "#" * (MAX_TEMPLATE_BYTES - len(head) - 1) + "\n")
    assert path.stat().st_size == MAX_TEMPLATE_BYTES
    code, out, err = run(capsys, "validate", str(path))
    assert (code, err) == (0, "")
    assert "valid (1 list(s)/section(s) managed)" in out


def confined(*argv: str, stdin: Any = None) -> subprocess.CompletedProcess[bytes]:
    """``b24app ARGV`` in a child process that cannot map more than 1 GB, killed after 120 s."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    return subprocess.run(
        [sys.executable, "-m", "b24app.cli", *argv],
        stdin=stdin,
        capture_output=True,
        preexec_fn=limit,
        timeout=120,
        check=False,
    )


def test_billion_laughs_cannot_blow_up_memory(tmp_path) -> None:
    path = write(tmp_path, laughs(levels=30))  # 9**30 values if expanded
    done = confined("validate", str(path))
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert f"{path}:7: aliases make the template stand for more than 100,000 values" in err, err


@pytest.mark.parametrize("source", ["/dev/zero", "sparse 10 GB file"])
def test_endless_or_huge_files_are_not_read_into_memory(tmp_path, source) -> None:
    if source != "/dev/zero":
        sparse = tmp_path / "huge.yaml"
        with sparse.open("wb") as file:
            file.truncate(10 * 2**30)  # takes no disk space: its bytes are all zero
        source = str(sparse)
    done = confined("validate", source)
    assert done.returncode == 1, done.stderr
    assert done.stderr.decode() == (
        f"error: template {source} is larger than 2.0 MB, the most b24app reads; give the right file, "
        "or split it (10,000 template entries take about 0.7 MB)\n"
    )


def test_standard_input_is_read_up_to_the_limit_only(tmp_path) -> None:
    with open("/dev/zero", "rb") as endless:
        done = confined("validate", "-", stdin=endless)
    assert done.returncode == 1, done.stderr
    assert done.stderr.decode().startswith("error: template on standard input is larger than 2.0 MB")
    with write(tmp_path, "version: 1\nsources: [{id: A, name: a}]\n").open("rb") as template:
        done = confined("validate", "-", stdin=template)
    assert (done.returncode, done.stdout.decode()) == (0, "-: valid (1 list(s)/section(s) managed)\n")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_read_up_to_the_limit_only(tmp_path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    child = subprocess.Popen(
        [sys.executable, "-m", "b24app.cli", "validate", str(fifo)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    written = 0
    try:
        with fifo.open("wb") as pipe:
            while written < 64 * MAX_TEMPLATE_BYTES:  # far more than the limit: the reader must stop first
                pipe.write(b"#" * 65_536)
                written += 65_536
    except BrokenPipeError:  # the reader closed the pipe once it had read enough
        pass
    out, err = child.communicate(timeout=120)
    assert child.returncode == 1 and "is larger than 2.0 MB" in err.decode()
    assert written < 64 * MAX_TEMPLATE_BYTES
