"""The progress of a sync as data: which phase, how far, of how much.

The engine emits these; each front end words them for its user (the command line prints a line
per event, the web page will show a bar), so no front end parses free text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

READING = "reading"  # reading the portal's lists (detail: portal; lost_answer when re-reading after one)
COUNTING = "counting"  # counting the CRM items of candidate deletions
CREATING = "creating"  # creating smart processes and pipelines (detail: smart_processes, pipelines)
APPLYING = "applying"  # writing the changes of entries, pipelines and smart processes
VERIFYING = "verifying"  # re-reading the portal to verify it matches the template
# another run created the same smart processes / pipelines at the same time (detail: smart_processes,
# pipelines); done = 0 when found, done = total once this run's own duplicates are being removed
HEALING = "healing"
PHASES = (READING, COUNTING, CREATING, HEALING, APPLYING, VERIFYING)


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    phase: str  # one of PHASES
    done: int = 0  # commands sent (or items handled) so far in this phase
    total: int | None = None  # how many there are in all, when known
    detail: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"unknown progress phase {self.phase!r}")

    def to_json(self) -> dict[str, object]:
        return {"phase": self.phase, "done": self.done, "total": self.total, "detail": dict(self.detail)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ProgressEvent:
        total = data.get("total")
        return cls(
            phase=str(data["phase"]),
            done=int(data.get("done") or 0),
            total=None if total is None else int(total),
            detail=dict(data.get("detail") or {}),
        )


Progress = Callable[[ProgressEvent], None]


def quiet(_: ProgressEvent) -> None:
    """A Progress that shows nothing."""
