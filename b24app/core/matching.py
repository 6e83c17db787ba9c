"""Which portal pipeline or smart process a template's one is: by key, default, name, previous names."""

from __future__ import annotations

from collections.abc import Iterable

from .model import Pipeline, SmartProcess


def match_pipelines(
    desired: Iterable[Pipeline], actual: tuple[Pipeline, ...]
) -> tuple[dict[str, Pipeline], dict[str, int]]:
    """Template pipeline name -> portal pipeline: by key, then default, then name / previous names.

    Also returns the template pipelines whose name fits several portal pipelines (Bitrix24 allows
    equal names): those are not guessed."""
    result: dict[str, Pipeline] = {}
    ambiguous: dict[str, int] = {}
    taken: set[int] = set()
    pending = list(desired)

    def claim(want: Pipeline, have: Pipeline) -> None:
        result[want.name] = have
        taken.add(id(have))
        pending.remove(want)

    for want in list(pending):
        have = next((p for p in actual if want.key and p.key == want.key and id(p) not in taken), None)
        if have is not None:
            claim(want, have)
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
                ambiguous[want.name] = len(fits)
                pending.remove(want)
    return result, ambiguous


def match_smart_process(desired: SmartProcess, actual: Iterable[SmartProcess]) -> SmartProcess | None:
    candidates = list(actual)
    if desired.code:
        by_code = next((p for p in candidates if p.code == desired.code), None)
        if by_code is not None:
            return by_code
    return next((p for p in candidates if p.title == desired.title), None)
