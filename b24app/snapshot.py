"""The core's PortalState as stable, versioned JSON: what the journal keeps of a portal before a run.

Everything the planner uses is kept (row ids, system flags, pipeline ids and marks, the entries as
Bitrix24 created them, the usage counts read), so a plan made from a loaded snapshot is the plan
that was made from the portal then. Keys are sorted and lists ordered, so equal states give equal
JSON. ``VERSION`` grows when the form changes; an unknown version is refused with a clear message.
"""

from __future__ import annotations

from typing import Any

from b24app.core.model import Entry, Pipeline, PipelineSet, PortalState, RefList, SmartProcess, Usage

VERSION = 1


class SnapshotError(ValueError):
    """A stored snapshot b24app cannot read (another version, or damaged)."""


def dump_state(state: PortalState) -> dict[str, Any]:
    return {
        "version": VERSION,
        "domain": state.domain,
        "lists": {key: _list(lst) for key, lst in sorted(state.lists.items())},
        "deal_pipelines": _set(state.deal_pipelines),
        "invoice_pipelines": None if state.invoice_pipelines is None else _set(state.invoice_pipelines),
        "smart_processes": [_process(p) for p in state.smart_processes],
        "usage": {
            "entries": sorted([entity, entry, n] for (entity, entry), n in state.usage.entries.items()),
            "pipelines": sorted([etid, cid, n] for (etid, cid), n in state.usage.pipelines.items()),
        },
    }


def load_state(data: Any) -> PortalState:
    if not isinstance(data, dict) or data.get("version") != VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise SnapshotError(
            f"the recorded portal state has version {version!r}; this b24app reads version {VERSION} "
            "(upgrade b24app to read it)"
        )
    try:
        return PortalState(
            domain=data["domain"],
            lists={key: _load_list(lst) for key, lst in data["lists"].items()},
            deal_pipelines=_load_set(data["deal_pipelines"]),
            invoice_pipelines=None
            if data["invoice_pipelines"] is None
            else _load_set(data["invoice_pipelines"]),
            smart_processes=tuple(_load_process(p) for p in data["smart_processes"]),
            usage=Usage(
                entries={(e, i): n for e, i, n in data["usage"]["entries"]},
                pipelines={(t, c): n for t, c, n in data["usage"]["pipelines"]},
            ),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SnapshotError(
            f"the recorded portal state is damaged ({type(error).__name__}: {error})"
        ) from None


def _entry(e: Entry) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "sort": e.sort,
        "color": e.color,
        "semantics": e.semantics,
        "system": e.system,
        "name_init": e.name_init,
        "row_id": e.row_id,
    }


def _list(lst: RefList) -> dict[str, Any]:
    return {
        "key": lst.key,
        "entries": [_entry(e) for e in lst.entries],
        "prune": lst.prune,
        "entity_id": lst.entity_id,
        "prefix": lst.prefix,
        "category_id": lst.category_id,
    }


def _pipeline(p: Pipeline) -> dict[str, Any]:
    return {
        "name": p.name,
        "stages": _list(p.stages),
        "default": p.default,
        "key": p.key,
        "previous_names": list(p.previous_names),
        "sort": p.sort,
        "id": p.id,
        "made_by": p.made_by,
        "as_created": sorted(p.as_created),
    }


def _set(ps: PipelineSet) -> dict[str, Any]:
    return {
        "section": ps.section,
        "pipelines": [_pipeline(p) for p in ps.pipelines],
        "prune": ps.prune,
        "entity_type_id": ps.entity_type_id,
    }


def _process(p: SmartProcess) -> dict[str, Any]:
    return {
        "title": p.title,
        "pipelines": _set(p.pipelines),
        "code": p.code,
        "type_id": p.type_id,
        "entity_type_id": p.entity_type_id,
    }


def _load_list(data: dict[str, Any]) -> RefList:
    return RefList(
        key=data["key"],
        entries=tuple(Entry(**e) for e in data["entries"]),
        prune=data["prune"],
        entity_id=data["entity_id"],
        prefix=data["prefix"],
        category_id=data["category_id"],
    )


def _load_pipeline(data: dict[str, Any]) -> Pipeline:
    return Pipeline(
        name=data["name"],
        stages=_load_list(data["stages"]),
        default=data["default"],
        key=data["key"],
        previous_names=tuple(data["previous_names"]),
        sort=data["sort"],
        id=data["id"],
        made_by=data["made_by"],
        as_created=frozenset(data["as_created"]),
    )


def _load_set(data: dict[str, Any]) -> PipelineSet:
    return PipelineSet(
        section=data["section"],
        pipelines=tuple(_load_pipeline(p) for p in data["pipelines"]),
        prune=data["prune"],
        entity_type_id=data["entity_type_id"],
    )


def _load_process(data: dict[str, Any]) -> SmartProcess:
    return SmartProcess(
        title=data["title"],
        pipelines=_load_set(data["pipelines"]),
        code=data["code"],
        type_id=data["type_id"],
        entity_type_id=data["entity_type_id"],
    )
