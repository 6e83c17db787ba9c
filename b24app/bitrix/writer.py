"""Turn planned changes into Bitrix24 commands and run them in ordered batches of up to 50.

b24app never sends FORCED: system entries are never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from b24app.core import catalog
from b24app.core.changes import CREATE, DELETE, ENTRY, PIPELINE, SMART_PROCESS, UPDATE, Change
from b24app.core.model import SEMANTICS_TO_BITRIX

from .client import BatchReply, Client, Command
from .errors import BitrixError

BATCH_SIZE = 50


def command_for(change: Change, mark: str | None = None) -> Command:
    """The one REST command that carries out a change; ``mark`` goes on the pipelines it creates."""
    if change.target == ENTRY:
        return _entry_command(change)
    if change.target == PIPELINE:
        return _pipeline_command(change, mark)
    if change.target == SMART_PROCESS:
        return _smart_process_command(change)
    raise ValueError(f"no command for {change.target} {change.action}")


def _entry_command(change: Change) -> Command:
    if change.action == CREATE:
        new = change.new or {}
        fields: dict[str, object] = {
            "ENTITY_ID": change.ref["entity_id"],
            "STATUS_ID": change.ref["status_id"],
            "NAME": new["name"],
            "SORT": new["sort"],
        }
        if new.get("color"):
            fields["COLOR"] = new["color"]
        semantics = SEMANTICS_TO_BITRIX[str(new.get("semantics", "process"))]
        if semantics:
            fields["SEMANTICS"] = semantics
        if change.ref.get("category_id") is not None:
            fields["CATEGORY_ID"] = change.ref["category_id"]
        return Command("crm.status.add", {"fields": fields})
    if change.action == UPDATE:
        names = {"name": "NAME", "sort": "SORT", "color": "COLOR"}
        fields = {names[k]: v for k, v in (change.new or {}).items() if k in names}
        return Command("crm.status.update", {"id": change.ref["row_id"], "fields": fields})
    if change.action == DELETE:
        return Command("crm.status.delete", {"id": change.ref["row_id"]})
    raise ValueError(f"entry changes cannot be {change.action}")


def _pipeline_command(change: Change, mark: str | None) -> Command:
    etid = change.scope.entity_type_id
    if change.action == CREATE:
        new = change.new or {}
        fields: dict[str, object] = {"name": new["name"]}
        if mark:
            fields["originatorId" if etid == catalog.DEAL else "code"] = mark
        if new.get("sort") is not None:
            fields["sort"] = new["sort"]
        if etid == catalog.DEAL and new.get("key"):
            fields["originId"] = new["key"]
        if etid != catalog.DEAL and new.get("default"):
            fields["isDefault"] = "Y"
        return Command("crm.category.add", {"entityTypeId": etid, "fields": fields})
    if change.action == UPDATE:
        names = {"name": "name", "sort": "sort", "key": "originId"}
        fields = {names[k]: v for k, v in (change.new or {}).items() if k in names}
        if (change.new or {}).get("default"):
            fields["isDefault"] = "Y"
        return Command(
            "crm.category.update", {"entityTypeId": etid, "id": change.ref["category_id"], "fields": fields}
        )
    if change.action == DELETE:
        return Command("crm.category.delete", {"entityTypeId": etid, "id": change.ref["category_id"]})
    raise ValueError(f"pipeline changes cannot be {change.action}")


def _smart_process_command(change: Change) -> Command:
    new = change.new or {}
    if change.action == CREATE:
        fields: dict[str, object] = {
            "title": new["title"],
            "isCategoriesEnabled": "Y",
            "isStagesEnabled": "Y",
        }
        if new.get("code"):
            fields["code"] = new["code"]
        return Command("crm.type.add", {"fields": fields})
    if change.action == UPDATE:
        return Command("crm.type.update", {"id": change.ref["type_id"], "fields": {"title": new["title"]}})
    raise ValueError(f"smart-process changes cannot be {change.action}")


@dataclass
class WriteResult:
    done: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, BitrixError]] = field(default_factory=list)
    results: dict[str, object] = field(default_factory=dict)  # by change index ("c0", "c1" ...)
    tail: BatchReply | None = None  # the answers to the tail commands (a re-read), if any


def write(
    client: Client,
    changes: Sequence[Change],
    *,
    tail: Mapping[str, Command] | None = None,
    idempotent: bool = True,
    mark: str | None = None,
) -> WriteResult:
    """Run the changes in order (batches of ≤50, no halt: every change is tried) and then ``tail``
    (commands that must see the result, such as a re-read) at the end of the last batch.

    ``idempotent=False`` for changes that must not happen twice (new pipelines and smart
    processes): a batch whose answer was lost is then not resent; the caller re-reads instead.
    ``mark`` is left on the pipelines created (see reader.new_run_mark)."""
    commands = {f"c{n}": command_for(change, mark) for n, change in enumerate(changes)}
    tail = dict(tail or {})
    result = WriteResult()
    chunks = _chunks(list(commands.items()), list(tail.items()))
    merged_tail: BatchReply | None = None
    for chunk in chunks:
        reply = client.batch(dict(chunk), halt=False, idempotent=idempotent)
        for key, _ in chunk:
            if key in tail:
                continue
            change = changes[int(key[1:])]
            if key in reply.errors:
                result.failed.append((change, reply.errors[key]))
            else:
                result.done.append(change)
                result.results[key] = reply.results.get(key)
        if any(key in tail for key, _ in chunk):
            merged_tail = reply
    result.tail = merged_tail
    return result


def delete_duplicates(
    client: Client,
    pipelines: Sequence[tuple[int, int]],
    types: Sequence[int],
    *,
    tail: Mapping[str, Command],
) -> BatchReply:
    """Delete (entityTypeId, category id) pipelines and smart processes (crm.type ids), then run
    ``tail`` (a re-read); its answers. A deletion Bitrix24 refuses (items arrived meanwhile) leaves
    the pipeline or smart process, and the re-read shows it."""
    commands = [(f"t{n}", Command("crm.type.delete", {"id": type_id})) for n, type_id in enumerate(types)]
    commands += [
        (f"d{n}", Command("crm.category.delete", {"entityTypeId": etid, "id": cid}))
        for n, (etid, cid) in enumerate(pipelines)
    ]
    reply = None
    for chunk in _chunks(commands, list(tail.items())):
        reply = client.batch(dict(chunk), halt=False)
    assert reply is not None  # the tail is never empty
    return reply


def mark_pipelines(client: Client, pipelines: Sequence[tuple[int, int]], mark: str) -> None:
    """Leave b24app's mark on smart-process pipelines that Bitrix24 created for it."""
    commands = [
        (f"m{n}", Command("crm.category.update", {"entityTypeId": etid, "id": cid, "fields": {"code": mark}}))
        for n, (etid, cid) in enumerate(pipelines)
    ]
    for chunk in _chunks(commands, []):
        client.batch(dict(chunk), halt=False)


def _chunks(items: list, tail: list) -> list[list]:
    """Split into batches of ≤50 keeping order; the tail goes whole into the last batch."""
    if len(tail) > BATCH_SIZE:
        raise ValueError("the tail of a write does not fit one batch")
    chunks = [items[i : i + BATCH_SIZE] for i in range(0, len(items), BATCH_SIZE)] or [[]]
    if len(chunks[-1]) + len(tail) <= BATCH_SIZE:
        chunks[-1] = chunks[-1] + tail
    elif tail:
        chunks.append(tail)
    return [c for c in chunks if c]


def structural(changes: Iterable[Change]) -> list[Change]:
    """Changes that make new types or pipelines; their stages can be planned only once they exist."""
    return [c for c in changes if c.action == CREATE and c.target in (SMART_PROCESS, PIPELINE)]
