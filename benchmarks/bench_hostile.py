"""Hostile templates through `b24app validate`, each in its own process: wall time, CPU, peak memory.

Run: python benchmarks/bench_hostile.py      (target: each hostile input < 1 s and < 100 MB, exit 1)

Every input runs as a user would run it (`python -m b24app.cli validate FILE`), 3 times; the table
shows the fastest wall time, the CPU time (user + system) of that run and the largest peak RSS
(os.wait4's rusage of the child, the per-child form of getrusage(RUSAGE_CHILDREN).ru_maxrss).
Python's start and b24app's imports are included: the first row, the bundled example, shows them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from b24app.console import example_template_text

STAGES = (
    "[{id: NEW, name: Новая}, {id: WON, name: Успех, semantics: success}, "
    "{id: LOSE, name: Провал, semantics: failure}]"
)


def laughs(levels: int) -> str:
    lines = ["version: 1", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def merge_laughs() -> str:
    lines = [
        "version: 1",
        "m0: &m0 {" + ", ".join(f"k{i}: [a, b, c, d, e, f, g, h]" for i in range(90)) + "}",
    ]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}]}}" for i in range(1, 20)]
    return "\n".join(lines) + "\n"


def entries(count: int, key: str = "sources") -> str:
    return f"{key}:\n" + "".join(
        f"  - {{id: V{i}, name: Значение {i}, sort: {i * 10 + 10}}}\n" for i in range(count)
    )


def large_valid() -> str:
    """10,000 entries: 10 value lists of 1,000 (every list b24app manages holds at most 1,000)."""
    keys = (
        "sources",
        "contact_types",
        "company_types",
        "employees",
        "industries",
        "deal_types",
        "honorifics",
    )
    text = "version: 1\n" + "".join(entries(1_000, key) for key in keys)
    text += "call_statuses:\n  prune: false\n  entries:\n" + entries(1_000, "x").split("\n", 1)[1].replace(
        "  -", "    -"
    )
    text += "deal_pipelines:\n" + "".join(
        f"  - name: P{p}\n" + ("    default: true\n" if p == 0 else f"    key: p{p}\n") + "    stages:\n"
        "      - {id: NEW, name: Новая}\n"
        + "".join(f"      - {{id: S{i}, name: Стадия {i}}}\n" for i in range(1, 998))
        + "      - {id: WON, name: Успех, semantics: success}\n      - {id: LOSE, name: Провал, semantics: failure}\n"
        for p in range(2)
    )
    return text


def shared_stages() -> str:
    """20 deal pipelines sharing one 30-stage list through an anchor: legitimate aliases."""
    stages = "".join(f"      - {{id: S{i}, name: Стадия {i}}}\n" for i in range(1, 28))
    text = "version: 1\ndeal_pipelines:\n  - name: P0\n    default: true\n    stages: &common\n"
    text += "      - {id: NEW, name: Новая}\n" + stages
    text += "      - {id: WON, name: Успех, semantics: success}\n      - {id: LOSE, name: Провал, semantics: failure}\n"
    return text + "".join(f"  - name: P{p}\n    key: p{p}\n    stages: *common\n" for p in range(1, 20))


def near_budget() -> str:
    """99,000 values, just under the 100,000 budget, every list within bounds: the most a text can cost."""
    return "version: 1\nsources:\n" + "".join("  - [" + ", ".join(["x"] * 999) + "]\n" for _ in range(98))


def bad_entries() -> str:
    return "version: 1\n" + "".join(
        f"{key}:\n" + "".join(f"  - {{idd: V{i}, nam: x}}\n" for i in range(1_000))
        for key in ("sources", "industries", "employees", "deal_types", "honorifics", "contact_types")
    )


def pipelines(count: int) -> str:
    lines = ["version: 1", "deal_pipelines:", f"  - {{name: P0, default: true, stages: {STAGES}}}"]
    return (
        "\n".join(lines + [f"  - {{name: P{i}, key: p{i}, stages: {STAGES}}}" for i in range(1, count)])
        + "\n"
    )


def smart_processes(count: int) -> str:
    stages = "[{id: NEW, name: n}, {id: SUCCESS, name: s, semantics: success}, {id: FAIL, name: f, semantics: failure}]"
    return "version: 1\nsmart_processes:\n" + "".join(
        f"  - {{title: T{i}, pipelines: [{{name: P, default: true, stages: {stages}}}]}}\n"
        for i in range(count)
    )


INPUTS: dict[str, Callable[[], str]] = {
    "bundled example (valid; the cost of starting)": example_template_text,
    "valid: 10,000 entries (8 lists + 2 pipelines of 1,000)": large_valid,
    "valid: 20 pipelines sharing one stage list (*common)": shared_stages,
    "billion laughs, 30 levels (9**30 values)": lambda: laughs(30),
    "nested merge keys (<<: [*m, *m, ...])": merge_laughs,
    "10,000 nested [": lambda: "version: 1\nsources: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "50,000 nested '- '": lambda: "version: 1\nsources:\n" + "- " * 50_000 + "x\n",
    "99,000 values, just under the budget": near_budget,
    "one list of 100,000 items": lambda: "version: 1\nsources: [" + ", ".join(["a"] * 100_000) + "]\n",
    "one mapping of 50,000 keys": lambda: (
        "version: 1\nsources:\n  - {" + ", ".join(f"k{i}: 1" for i in range(50_000)) + "}\n"
    ),
    "101 deal pipelines": lambda: pipelines(101),
    "101 smart processes": lambda: smart_processes(101),
    "a 1.9 MB name": lambda: 'version: 1\nsources:\n  - {id: A, name: "' + "x" * 1_900_000 + '"}\n',
    "a 1 MB id": lambda: "version: 1\nsources:\n  - {id: " + "I" * 1_000_000 + ", name: a}\n",
    "a 10,000-digit number": lambda: "version: 1\nsources: [{id: A, name: a, sort: " + "9" * 10_000 + "}]\n",
    "!!python/object/apply": lambda: 'version: 1\nsources: !!python/object/apply:os.system ["echo pwned"]\n',
    "6,000 wrong entries (checking stops at 100 problems)": bad_entries,
    "3 MB file": lambda: "version: 1\n" + "#" * 3 * 2**20 + "\n",
}
SPECIAL = ("10 GB sparse file", "/dev/zero")


def measure(path: str) -> tuple[int, float, float, float]:
    """(exit code, wall s, CPU s, peak RSS MB) of one `b24app validate PATH`."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "b24app.cli", "validate", path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def report(name: str, path: str, size: int) -> None:
    runs = [measure(path) for _ in range(3)]
    code, wall, cpu, _ = min(runs, key=lambda run: run[1])
    rss = max(run[3] for run in runs)
    print(
        f"| {name} | {size / 1024:,.0f} KB | {code} | {wall:.2f} s | {cpu:.2f} s | {rss:.0f} MB |", flush=True
    )


def main() -> None:
    print("| input | size | exit | wall (best of 3) | CPU | peak RSS |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, make in INPUTS.items():
            path = Path(folder) / "t.yaml"
            path.write_text(make(), encoding="utf-8")
            report(name, str(path), path.stat().st_size)
        sparse = Path(folder) / "huge.yaml"
        with sparse.open("wb") as file:
            file.truncate(10 * 2**30)
        report(SPECIAL[0], str(sparse), sparse.stat().st_size)
        report(SPECIAL[1], "/dev/zero", 0)


if __name__ == "__main__":
    main()
