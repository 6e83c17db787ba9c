"""Which portal pipeline or smart process a template's one is: by key, default, name, previous names.

Two portal pipelines (or smart processes) that both fit one template entry — the same key, or the
same name — are a conflict: nothing is guessed, the plan blocks that entry and says what to do.
Two runs that created the same pipeline at once leave such a pair; the survivor they both agree on
is the one with the lowest id (:func:`survivor`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .model import Pipeline, SmartProcess

KEY, NAME, CODE, TITLE = "key", "name", "code", "title"


@dataclass(frozen=True, slots=True)
class Conflict:
    """Several portal pipelines or smart processes fit one template entry."""

    by: str  # what they share: key | name (pipelines), code | title (smart processes)
    ids: tuple[int, ...]  # their category ids / entityTypeIds, lowest first


def survivor(ids: Iterable[int]) -> int:
    """Of duplicates, the one every run keeps: the lowest id (the first made)."""
    return min(ids)


def match_pipelines(
    desired: Iterable[Pipeline], actual: tuple[Pipeline, ...]
) -> tuple[dict[str, Pipeline], dict[str, Conflict]]:
    """Template pipeline name -> portal pipeline: by key, then default, then name / previous names.

    Also returns the template pipelines that several portal pipelines fit (the same key, or the
    same name: Bitrix24 allows both twice): those are conflicts, not guessed."""
    result: dict[str, Pipeline] = {}
    conflicts: dict[str, Conflict] = {}
    taken: set[int] = set()
    pending = list(desired)

    def claim(want: Pipeline, have: Pipeline) -> None:
        result[want.name] = have
        taken.add(id(have))
        pending.remove(want)

    def conflict(want: Pipeline, by: str, fits: Sequence[Pipeline]) -> None:
        conflicts[want.name] = Conflict(by, tuple(sorted(p.id or 0 for p in fits)))
        taken.update(id(p) for p in fits)
        pending.remove(want)

    for want in list(pending):
        fits = [p for p in actual if want.key and p.key == want.key]
        if len(fits) == 1:
            claim(want, fits[0])
        elif len(fits) > 1:
            conflict(want, KEY, fits)
    for want in list(pending):
        if want.default:
            have = next((p for p in actual if p.default and id(p) not in taken), None)
            if have is not None:
                claim(want, have)
    for names in (lambda w: (w.name,), lambda w: w.previous_names):
        for want in list(pending):
            fits = [
                p
                for p in actual
                if p.name in names(want) and id(p) not in taken and (want.default or not p.default)
            ]
            if len(fits) == 1:
                claim(want, fits[0])
            elif len(fits) > 1:
                conflict(want, NAME, fits)
    return result, conflicts


def match_smart_process(
    desired: SmartProcess, actual: Iterable[SmartProcess]
) -> tuple[SmartProcess | None, Conflict | None]:
    """The portal's smart process for a template one: by code, then title; several fits are a conflict."""
    candidates = list(actual)
    for by, fits in (
        (CODE, [p for p in candidates if desired.code and p.code == desired.code]),
        (TITLE, [p for p in candidates if p.title == desired.title]),
    ):
        if len(fits) == 1:
            return fits[0], None
        if len(fits) > 1:
            return None, Conflict(by, tuple(sorted(p.entity_type_id or 0 for p in fits)))
    return None, None
