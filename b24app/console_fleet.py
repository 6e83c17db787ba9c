"""What the command line says about a fleet run: the summary table, the progress, the outcomes.

The data is :mod:`b24app.fleet`'s; this module only words it. On a terminal the progress is a live
rich display; when stdout is not a terminal (or with --quiet / --json) it is one plain line per
portal finished (none with --quiet), on stderr.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from b24app import console
from b24app.fleet import FleetOutcome, FleetPlan, FleetResult, PortalResult
from b24app.progress import ProgressEvent

PLAIN_WIDTH = 1000  # wide enough that a table on a pipe never wraps a line

OUTCOME_TEXT = {
    FleetOutcome.APPLIED_VERIFIED: "applied, verified",
    FleetOutcome.NOTHING_TO_DO: "nothing to do",
    FleetOutcome.NOT_CONVERGED: "not converged",
    FleetOutcome.REFUSED: "refused",
    FleetOutcome.ERROR: "error",
    FleetOutcome.SKIPPED: "skipped",
}
OUTCOME_STYLE = {
    FleetOutcome.APPLIED_VERIFIED: "green",
    FleetOutcome.NOTHING_TO_DO: "green",
    FleetOutcome.NOT_CONVERGED: "red",
    FleetOutcome.REFUSED: "yellow",
    FleetOutcome.ERROR: "red",
    FleetOutcome.SKIPPED: "dim",
}


def make_console(color: bool, file=None) -> Console:
    """stdout's console: rich's own on a terminal, plain and wide otherwise."""
    file = file or sys.stdout
    if file.isatty():
        return Console(file=file, no_color=not color, highlight=False)
    return Console(file=file, no_color=True, highlight=False, width=PLAIN_WIDTH, soft_wrap=False)


def show_table(out: Console, table: Table) -> None:
    """A table: drawn by rich on a terminal; on a pipe, aligned columns without trailing blanks."""
    if out.is_terminal:
        out.print(table)
        return
    with out.capture() as captured:
        out.print(table)
    out.file.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


def plan_table(plan: FleetPlan, terminal: bool) -> Table:
    table = Table(
        title=f"Plan of {plan.template} for {len(plan.portals)} portal(s)",
        box=box.SIMPLE_HEAD if terminal else None,
        title_justify="left",
    )
    table.add_column("PORTAL")
    for name in ("CREATE", "UPDATE", "DELETE", "BLOCKED", "REFUSALS", "CONFLICTS"):
        table.add_column(name, justify="right")
    table.add_column("ERROR", overflow="fold")
    for p in plan.portals:
        if p.error:
            table.add_row(p.portal, *["-"] * 6, p.error, style="red" if terminal else None)
            continue
        counts = [str(p.summary[k]) for k in ("create", "update", "delete", "blocked")]
        table.add_row(p.portal, *counts, str(p.refusals), str(p.conflicts), "")
    return table


def plan_footer(plan: FleetPlan) -> str:
    t = plan.totals
    changing = sum(1 for p in plan.portals if p.has_changes and not p.error)
    return (
        f"Fleet: {changing} of {len(plan.portals)} portal(s) to change; {t['create']} to create, "
        f"{t['update']} to update, {t['delete']} to delete, {t['blocked']} blocked; "
        f"{plan.errors} portal(s) could not be planned."
    )


def outcome_table(result: FleetResult, terminal: bool) -> Table:
    table = Table(title="Outcome", box=box.SIMPLE_HEAD if terminal else None, title_justify="left")
    table.add_column("PORTAL")
    table.add_column("OUTCOME")
    table.add_column("APPLIED", justify="right")
    table.add_column("FAILED", justify="right")
    table.add_column("REQUESTS", justify="right")
    table.add_column("DETAIL", overflow="fold")
    for r in result.results:
        style = OUTCOME_STYLE[r.outcome] if terminal else None
        table.add_row(
            r.portal,
            OUTCOME_TEXT[r.outcome],
            str(r.applied),
            str(r.failed),
            str(r.requests),
            r.message or "",
            style=style,
        )
    return table


def outcome_footer(result: FleetResult) -> str:
    counts = result.counts()
    parts = [f"{counts[o.value]} {OUTCOME_TEXT[o]}" for o in FleetOutcome if counts[o.value]]
    verdict = "every portal matches the template" if result.ok else "some portals do not match the template"
    return f"Fleet: {', '.join(parts)}; {verdict}."


def result_line(result: PortalResult) -> str:
    text = f"{result.portal}: {OUTCOME_TEXT[result.outcome]}"
    if result.outcome == FleetOutcome.APPLIED_VERIFIED:
        text += f" ({result.applied} change(s), {result.requests} request(s))"
    if result.message:
        text += f" — {result.message}"
    return text


class LiveProgress:
    """A rich display: one bar for the fleet, one line per portal being worked on."""

    def __init__(self, out: Console, total: int, what: str) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        )
        self._overall = self._progress.add_task(what, total=total)
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def event(self, portal: str, event: ProgressEvent) -> None:
        text = f"  {portal}: {console.progress_text(event)}"
        with self._lock:
            task = self._tasks.get(portal)
            if task is None:
                self._tasks[portal] = self._progress.add_task(text, total=None)
            else:
                self._progress.update(task, description=text)

    def finished(self, portal: str, line: str | None = None) -> None:
        with self._lock:
            task = self._tasks.pop(portal, None)
            if task is not None:
                self._progress.remove_task(task)
            self._progress.advance(self._overall)
        if line:
            self._progress.console.print(line, highlight=False)

    @contextmanager
    def shown(self) -> Iterator[LiveProgress]:
        with self._progress:
            yield self


class LineProgress:
    """Plain lines on stderr: one per portal finished (nothing at all when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self._quiet = quiet
        self._lock = threading.Lock()  # one whole line at a time from the portals' threads

    def event(self, portal: str, event: ProgressEvent) -> None:
        return None

    def finished(self, portal: str, line: str | None = None) -> None:
        if line and not self._quiet:
            with self._lock:
                console.stderr(f"{console.PROGRESS_MARK} {line}")

    @contextmanager
    def shown(self) -> Iterator[LineProgress]:
        yield self
