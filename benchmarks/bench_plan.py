"""Validate + plan of a 2,000-entry template against a 2,000-entry portal state: CPU time and peak memory.

Run: python benchmarks/bench_plan.py            (target: < 0.5 s CPU, < 150 MB peak)
"""

from __future__ import annotations

import resource
import time
import tracemalloc

from b24app.core.changes import PlanOptions
from b24app.core.model import Entry, Pipeline, PipelineSet, PortalState, RefList
from b24app.core.plan import plan
from b24app.core.template import load_template

VALUE_LISTS = (
    "sources",
    "contact_types",
    "company_types",
    "employees",
    "industries",
    "deal_types",
    "honorifics",
)
PER_LIST = 250  # 7 value lists x 250 + 5 deal pipelines x 50 stages = 2,000 entries


def stage_lines(n: int) -> list[str]:
    lines = ["        - {id: NEW, name: Начало, color: '#39A8EF'}"]
    lines += [f"        - {{id: S{i}, name: Стадия {i}, color: '#2FC6F6'}}" for i in range(1, n - 2)]
    lines += [
        "        - {id: WON, name: Успех, semantics: success}",
        "        - {id: LOSE, name: Провал, semantics: failure}",
    ]
    return lines


def template_text() -> str:
    lines = ["version: 1"]
    for key in VALUE_LISTS:
        lines.append(f"{key}:")
        lines += [f"  - {{id: V{i}, name: Значение {i} списка {key}}}" for i in range(PER_LIST)]
    lines.append("deal_pipelines:")
    for p in range(5):
        lines.append(f"  - name: Воронка {p}")
        if p == 0:
            lines.append("    default: true")
        else:
            lines.append(f"    key: funnel{p}")
        lines.append("    stages:")
        lines += stage_lines(50)
    return "\n".join(lines) + "\n"


def portal_state() -> PortalState:
    lists = {}
    row = 1
    for key in VALUE_LISTS:
        entries = []
        for i in range(PER_LIST):
            name = f"Значение {i} списка {key}" if i % 10 else f"Старое имя {i}"  # 10 % renamed
            entries.append(Entry(f"V{i}", name, (i + 1) * 10, None, "process", False, "", row))
            row += 1
        lists[key] = RefList(key, tuple(entries), entity_id=key.upper(), prefix="")
    pipelines = []
    for p in range(5):
        prefix = f"C{p}" if p else ""
        stages = [Entry("NEW", "Начало", 10, "#39A8EF", "process", True, "Начало", row)]
        stages += [
            Entry(f"S{i}", f"Стадия {i}", (i + 1) * 10, "#2FC6F6", "process", False, "", row + i)
            for i in range(1, 47)
        ]
        stages += [
            Entry("WON", "Успех", 480, None, "success", True, "", row + 48),
            Entry("LOSE", "Провал", 490, None, "failure", True, "", row + 49),
        ]
        row += 50
        entity = f"DEAL_STAGE_{p}" if p else "DEAL_STAGE"
        pipelines.append(
            Pipeline(
                f"Воронка {p}",
                RefList("deal_stages", tuple(stages), entity_id=entity, prefix=prefix),
                p == 0,
                f"funnel{p}" if p else None,
                id=p,
            )
        )
    return PortalState("bench.example", lists, PipelineSet("deal_pipelines", tuple(pipelines), None, 2))


def main() -> None:
    text = template_text()
    state = portal_state()
    runs = []
    for _ in range(5):
        start = time.process_time()
        template = load_template(text, "bench.yaml")
        result = plan(template, state, PlanOptions())
        runs.append(time.process_time() - start)
    tracemalloc.start()
    template = load_template(text, "bench.yaml")
    result = plan(template, state, PlanOptions())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    entries = sum(len(lst.entries) for lst in template.lists.values())
    entries += sum(len(p.stages.entries) for p in template.deal_pipelines.pipelines)
    print(f"template entries: {entries}, portal entries: {entries}, changes: {len(result.changes)}")
    print(f"validate + plan CPU: best {min(runs):.3f} s, median {sorted(runs)[2]:.3f} s (target < 0.5 s)")
    print(
        f"peak traced memory: {peak / 2**20:.1f} MB; process max RSS: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB (target < 150 MB)"
    )


if __name__ == "__main__":
    main()
