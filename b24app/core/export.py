"""A template that describes a portal exactly as it is (its plan against that portal is empty)."""

from __future__ import annotations

from collections import Counter

from . import catalog
from .model import SEMANTICS_RANK, Entry, Pipeline, PipelineSet, PortalState, RefList, SmartProcess, Template


def _entries(lst: RefList) -> RefList:
    # By sort, as Bitrix24 shows them; among equal sorts, process before success before failure.
    ordered = sorted(
        lst.entries, key=lambda e: (e.sort, SEMANTICS_RANK[e.semantics] if lst.key.endswith("stages") else 0)
    )
    return RefList(lst.key, tuple(Entry(e.id, e.name, e.sort, e.color, e.semantics) for e in ordered))


def _pipelines(ps: PipelineSet) -> PipelineSet:
    pipelines = tuple(
        Pipeline(
            name=p.name,
            stages=_entries(p.stages),
            default=p.default,
            key=p.key if not p.default else None,
            sort=p.sort,
        )
        for p in sorted(ps.pipelines, key=lambda p: (not p.default, p.sort or 0, p.id or 0))
    )
    return PipelineSet(ps.section, pipelines, None, ps.entity_type_id)


def template_from_state(state: PortalState, source: str = "<export>") -> Template:
    return Template(
        lists={key: _entries(lst) for key, lst in state.lists.items()},
        deal_pipelines=_pipelines(state.deal_pipelines),
        invoice_pipelines=_pipelines(state.invoice_pipelines) if state.invoice_pipelines else None,
        smart_processes=tuple(
            SmartProcess(title=p.title, code=p.code, pipelines=_pipelines(p.pipelines))
            for p in state.smart_processes
        ),
        prune=False,
        source=source,
    )


def export_warnings(state: PortalState) -> list[str]:
    """Names a template needs unique but the portal repeats: such an export does not validate."""
    warnings = []
    sets = [state.deal_pipelines, state.invoice_pipelines, *(p.pipelines for p in state.smart_processes)]
    for pipelines in filter(None, sets):
        names = Counter(p.name for p in pipelines.pipelines)
        for name, count in names.items():
            if count > 1:
                warnings.append(
                    f'{count} {pipelines.section.replace("_", " ")} are named "{name}"; rename all but one in '
                    "Bitrix24 (or in the exported template, then apply it) so that each name says which is meant"
                )
    stage_lists = [lst for lst in state.lists.values() if catalog.SPECS[lst.key].is_stages]
    stage_lists += [p.stages for ps in sets if ps is not None for p in ps.pipelines]
    for lst in stage_lists:
        initial = catalog.SPECS[lst.key].stages.initial
        first = min(lst.entries, key=lambda e: e.sort, default=None)
        if first is not None and first.id != initial and any(e.id == initial for e in lst.entries):
            warnings.append(
                f"in {lst.entity_id}, {first.id} sorts before the initial stage {initial}; the template "
                f"will validate once {initial} is first (give {first.id} a higher sort in Bitrix24)"
            )
    titles = Counter(p.title for p in state.smart_processes)
    warnings += [
        f'{n} smart processes are titled "{t}"; give them distinct titles' for t, n in titles.items() if n > 1
    ]
    return warnings
