"""Turn planned changes into Bitrix24 commands and run them in ordered batches of up to 50.

b24app never sends FORCED: system entries are never deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from b24app.core import catalog
from b24app.core.changes import (
    Change,
    EntryCreate,
    EntryDelete,
    EntryUpdate,
    PipelineCreate,
    PipelineDelete,
    PipelineUpdate,
    SmartProcessCreate,
    SmartProcessUpdate,
)

from . import wire
from .client import MAX_BATCH, BatchReply, Client, Command
from .errors import BitrixError

_STATUS_FIELDS = {"name": "NAME", "sort": "SORT", "color": "COLOR"}
_CATEGORY_FIELDS = {"name": "name", "sort": "sort", "key": "originId"}


def command_for(change: Change) -> Command:
    """The one REST command that carries out a change."""
    build = _COMMANDS.get(type(change))
    if build is None:
        raise ValueError(f"no command for {change.target} {change.action}")
    return build(change)


def _entry_create(change: EntryCreate) -> Command:
    scope, entry = change.scope, change.entry
    fields: dict[str, object] = {
        "ENTITY_ID": scope.entity_id,
        "STATUS_ID": wire.status_id(scope.prefix, entry.id),
        "NAME": entry.name,
        "SORT": entry.sort,
    }
    if entry.color:
        fields["COLOR"] = entry.color
    semantics = wire.SEMANTICS_TO_BITRIX[entry.semantics]
    if semantics:
        fields["SEMANTICS"] = semantics
    if scope.category_id is not None:
        fields["CATEGORY_ID"] = scope.category_id
    return Command("crm.status.add", {"fields": fields})


def _entry_update(change: EntryUpdate) -> Command:
    fields = {_STATUS_FIELDS[f.name]: f.new for f in change.fields if f.name in _STATUS_FIELDS}
    return Command("crm.status.update", {"id": change.row_id, "fields": fields})


def _entry_delete(change: EntryDelete) -> Command:
    return Command("crm.status.delete", {"id": change.entry.row_id})


def _pipeline_create(change: PipelineCreate) -> Command:
    etid, want = change.scope.entity_type_id, change.pipeline
    fields: dict[str, object] = {"name": want.name}
    if want.sort is not None:
        fields["sort"] = want.sort
    if etid == catalog.DEAL and want.key:
        fields["originId"] = want.key
    return Command("crm.category.add", {"entityTypeId": etid, "fields": fields})


def _pipeline_update(change: PipelineUpdate) -> Command:
    fields: dict[str, object] = {
        _CATEGORY_FIELDS[f.name]: f.new for f in change.fields if f.name in _CATEGORY_FIELDS
    }
    if any(f.name == "default" and f.new for f in change.fields):
        fields["isDefault"] = "Y"
    scope = change.scope
    return Command(
        "crm.category.update",
        {"entityTypeId": scope.entity_type_id, "id": scope.category_id, "fields": fields},
    )


def _pipeline_delete(change: PipelineDelete) -> Command:
    scope = change.scope
    return Command("crm.category.delete", {"entityTypeId": scope.entity_type_id, "id": scope.category_id})


def _smart_process_create(change: SmartProcessCreate) -> Command:
    fields: dict[str, object] = {
        "title": change.process.title,
        "isCategoriesEnabled": "Y",
        "isStagesEnabled": "Y",
    }
    if change.process.code:
        fields["code"] = change.process.code
    return Command("crm.type.add", {"fields": fields})


def _smart_process_update(change: SmartProcessUpdate) -> Command:
    fields = {f.name: f.new for f in change.fields}
    return Command("crm.type.update", {"id": change.type_id, "fields": fields})


_COMMANDS: dict[type, Callable[..., Command]] = {
    EntryCreate: _entry_create,
    EntryUpdate: _entry_update,
    EntryDelete: _entry_delete,
    PipelineCreate: _pipeline_create,
    PipelineUpdate: _pipeline_update,
    PipelineDelete: _pipeline_delete,
    SmartProcessCreate: _smart_process_create,
    SmartProcessUpdate: _smart_process_update,
}


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
    on_batch: Callable[[int, int], None] | None = None,
    mark: str | None = None,
) -> WriteResult:
    """Run the changes in order (batches of ≤50, no halt: every change is tried) and then ``tail``
    (commands that must see the result, such as a re-read) at the end of the last batch.

    ``idempotent=False`` for changes that must not happen twice (new pipelines and smart
    processes): a batch whose answer was lost is then not resent; the caller re-reads instead.
    ``on_batch(done, total)`` is called after each batch that held changes (commands sent so far).
    ``mark`` is left on the pipelines created (see reader.new_run_mark)."""
    commands = {f"c{n}": _marked(command_for(change), change, mark) for n, change in enumerate(changes)}
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
        if on_batch is not None and any(key not in tail for key, _ in chunk):
            on_batch(len(result.done) + len(result.failed), len(commands))
    result.tail = merged_tail
    return result


def _marked(command: Command, change: Change, mark: str | None) -> Command:
    """A pipeline's creation carrying b24app's mark: deals in originatorId, others in code."""
    if not mark or not isinstance(change, PipelineCreate):
        return command
    field = "originatorId" if change.scope.entity_type_id == catalog.DEAL else "code"
    params = dict(command.params)
    params["fields"] = {**params["fields"], field: mark}
    return Command(command.method, params)


def created_types(todo: Sequence[Change], outcome: WriteResult) -> set[int]:
    """entityTypeIds of the smart processes this batch created, from Bitrix24's answers."""
    types = set()
    for n, change in enumerate(todo):
        answer = outcome.results.get(f"c{n}")
        if (
            isinstance(change, SmartProcessCreate)
            and isinstance(answer, dict)
            and isinstance(answer.get("type"), dict)
        ):
            types.add(int(answer["type"]["entityTypeId"]))
    return types


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
    if len(tail) > MAX_BATCH:
        raise ValueError("the tail of a write does not fit one batch")
    chunks = [items[i : i + MAX_BATCH] for i in range(0, len(items), MAX_BATCH)] or [[]]
    if len(chunks[-1]) + len(tail) <= MAX_BATCH:
        chunks[-1] = chunks[-1] + tail
    elif tail:
        chunks.append(tail)
    return [c for c in chunks if c]


def structural(changes: Iterable[Change]) -> list[Change]:
    """Changes that make new types or pipelines; their stages can be planned only once they exist."""
    return [c for c in changes if isinstance(c, SmartProcessCreate | PipelineCreate)]
