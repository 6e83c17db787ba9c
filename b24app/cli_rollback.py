"""``b24app journal PORTAL`` and ``b24app rollback RUN``: the command line of b24app.rollback.

rollback exits 0 when the portal is back (or nothing was to roll back), 1 on an error, a refusal,
a "no" at the prompt, or an apply that did not converge.
"""

from __future__ import annotations

import json
import sys

from b24app import cli_store, console, rollback, sync
from b24app.bitrix.errors import BitrixError
from b24app.core.changes import Plan
from b24app.core.render import render_text
from b24app.outcome import ApplyResult
from b24app.portal_access import PortalUnavailable, connect_installed
from b24app.progress import ProgressEvent
from b24app.store import NotFound

EXIT_OK, EXIT_ERROR = 0, 1


def add_commands(sub) -> None:
    p = sub.add_parser("journal", help="an installed portal's runs: plans, applies, rollbacks")
    p.add_argument("portal", metavar="PORTAL", help="the portal's domain or member_id")
    p.add_argument("--limit", type=int, default=50, help="how many runs, newest first (default 50)")
    p.add_argument("--json", action="store_true", help="print the runs as JSON")
    p.set_defaults(func=cmd_journal)

    p = sub.add_parser("rollback", help="bring a portal's lists back to the state before one of its runs")
    p.add_argument("run", metavar="RUN", type=int, help="the run's id (see b24app journal PORTAL)")
    p.add_argument("--yes", action="store_true", help="apply without asking")
    p.add_argument("--force", action="store_true", help="accept a prune above the safety threshold")
    p.add_argument("--json", action="store_true", help="print the plan and the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--no-color", action="store_true", help="no colours")
    p.set_defaults(func=cmd_rollback)


def cmd_journal(args) -> int:
    if args.limit < 1:
        raise cli_store.CommandError("--limit must be at least 1")
    with cli_store.opened_store() as (store, _):
        try:
            portal, rows = rollback.journal_rows(store, args.portal, args.limit)
        except rollback.RollbackError as error:
            raise cli_store.CommandError(str(error)) from None
    if args.json:
        print(json.dumps({"portal": portal.domain, "runs": rows}, ensure_ascii=False, indent=2))
    else:
        print("\n".join(rollback.journal_lines(portal, rows)))
    return EXIT_OK


def cmd_rollback(args) -> int:
    with cli_store.opened_store() as (store, settings):
        try:
            run = store.runs.get(args.run)
        except NotFound:
            return _fail(
                f"there is no run {args.run}; 'b24app journal PORTAL' lists a portal's runs and their ids"
            )
        try:
            client = connect_installed(store, settings, run.portal_id)
        except PortalUnavailable as error:
            return _fail(str(error))
        try:
            planned = rollback.prepare(store, client, args.run, force=args.force)
        except (rollback.RollbackError, sync.SyncError, BitrixError) as error:
            return _fail(str(error))
        plan = planned.plan
        if not args.json:
            sys.stdout.write(render_text(plan, color=sys.stdout.isatty() and not args.no_color))
            sys.stdout.flush()
        if plan.refused:
            _print_json(args, plan)
            return _fail(console.unsafe_message(sync.UnsafePlan(plan.refusals)))
        if not plan.has_changes:
            _print_json(args, plan)
            console.stderr(f"nothing to roll back: {client.domain} is as it was before run {args.run}")
            return EXIT_OK
        if not _confirmed(args, client.domain):
            _print_json(args, plan)
            return EXIT_ERROR
        try:
            run_id, result = rollback.apply_rollback(
                store, client, planned, user_name=cli_store.who(), progress=_progress(args)
            )
        except sync.PlanChanged as error:
            return _fail(console.plan_changed_message(error))
        except sync.UnsafePlan as error:
            return _fail(console.unsafe_message(error))
    if args.json:
        _print_json(args, plan, run_id, result)
    else:
        print(
            "\n".join([*console.outcome_lines(result), f"journaled as run {run_id} (rollback of {args.run})"])
        )
    return EXIT_OK if result.summary().ok else EXIT_ERROR


def _print_json(args, plan: Plan, run_id: int | None = None, result: ApplyResult | None = None) -> None:
    """One JSON document: the plan shown, and the rollback run with its result once applied."""
    if args.json:
        data = {
            "rollback_of": args.run,
            "plan": plan.to_json(),
            "run": run_id,
            "result": None if result is None else result.to_json(),
        }
        print(json.dumps(data, ensure_ascii=False, indent=2))


def _confirmed(args, domain: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        _fail("rollback changes the portal: add --yes to confirm (or run it at a terminal to be asked)")
        return False
    console.stderr(f"Roll {domain} back as shown? [y/N] ")
    answer = input().strip().lower()
    if answer in ("y", "yes"):
        return True
    console.stderr("nothing was changed")
    return False


def _progress(args) -> sync.Progress:
    if args.quiet:
        return lambda _: None

    def show(event: ProgressEvent) -> None:
        console.stderr(f"{console.PROGRESS_MARK} {console.progress_text(event)}")

    return show


def _fail(message: str) -> int:
    console.stderr(f"error: {message}")
    return EXIT_ERROR
