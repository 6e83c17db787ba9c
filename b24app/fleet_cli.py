"""`b24app plan|apply TEMPLATE --portal A --portal B … | --all`: the fleet run on the command line.

One --portal (or B24APP_PORTAL) keeps the single-portal commands as they are; two or more, or
--all, make a fleet run: plan every portal, show one summary table, confirm, apply with a live
progress display, show the outcomes.

Exit codes of a fleet run: ``plan`` 0 = every portal in sync, 2 = changes to apply on some portal,
1 = some portal could not be planned; ``apply`` 0 = every portal applied and verified or already in
sync, 1 = any portal not converged, refused, in error or skipped (or the run was not confirmed).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from b24app import console_fleet
from b24app.cli_store import CommandError
from b24app.core.changes import PlanOptions
from b24app.core.model import Template
from b24app.fleet import DEFAULT_CONCURRENCY, Fleet, FleetPlan, PortalRef, installed_portals

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def is_fleet(args) -> bool:
    return bool(args.all) or len(args.portal or []) > 1


FLEET_ONLY = {"concurrency": None, "attempts": None, "canary": 0}


def single_portal(args) -> str | None:
    """The one --portal of a single-portal run (None: B24APP_PORTAL is used)."""
    given = [name for name, unset in FLEET_ONLY.items() if getattr(args, name, unset) != unset]
    if given:
        options = ", ".join(f"--{name}" for name in given)
        raise CommandError(f"{options}: only for a fleet run (several --portal, or --all)")
    return args.portal[0] if args.portal else None


def _portals(args) -> list[PortalRef]:
    if args.all and args.portal:
        raise CommandError("give either --all or --portal, not both")
    if args.all:
        portals = installed_portals()
        if not portals:
            raise CommandError("--all: no portal is installed in the store; install b24app in a portal first")
    else:
        portals = [PortalRef.of(ref) for ref in args.portal]
    labels = [p.label for p in portals]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise CommandError(f"a portal is given twice: {', '.join(twice)}; give each portal once")
    return portals


def _fleet(args, template: Template, which: dict, options: PlanOptions) -> Fleet:
    """The fleet of a command: the template as the CLI read it (its bases merged), ``which`` the
    journal's fields naming it."""
    for name in ("out", "plan"):
        if getattr(args, name, None):
            raise CommandError(f"--{name} works with one portal; leave it out of a fleet run")
    if args.concurrency is None:
        args.concurrency = DEFAULT_CONCURRENCY
    if args.concurrency < 1:
        raise CommandError("--concurrency must be at least 1")
    if args.attempts is not None and args.attempts < 1:
        raise CommandError("--attempts must be at least 1")
    return Fleet(
        portals=_portals(args),
        template=template,
        which=which,
        options=options,
        concurrency=args.concurrency,
        wait=not getattr(args, "no_wait", False),
        attempts=args.attempts,
    )


def _display(args, out, total: int, what: str):
    if sys.stdout.isatty() and not args.quiet and not args.json:
        return console_fleet.LiveProgress(out, total, what)
    return console_fleet.LineProgress(args.quiet)


def _make_plan(args, fleet: Fleet, out) -> FleetPlan:
    display = _display(args, out, len(fleet.portals), "planning")

    def planned(plan) -> None:
        line = f"{plan.portal}: planned" if not plan.error else f"{plan.portal}: error — {plan.error}"
        display.finished(plan.portal, line)

    with display.shown():
        return fleet.plan(progress=display.event, done=planned)


def cmd_fleet_plan(args, template: Template, which: dict, options: PlanOptions) -> int:
    fleet = _fleet(args, template, which, options)
    out = console_fleet.make_console(_color(args))
    plan = _make_plan(args, fleet, out)
    if args.json:
        sys.stdout.write(json.dumps(plan.to_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        console_fleet.show_table(out, console_fleet.plan_table(plan, sys.stdout.isatty()))
        out.print(console_fleet.plan_footer(plan), highlight=False)
    if plan.errors:
        return EXIT_ERROR
    return EXIT_CHANGES if any(p.has_changes for p in plan.portals) else EXIT_OK


def cmd_fleet_apply(args, template: Template, which: dict, options: PlanOptions) -> int:
    if args.canary < 0:
        raise CommandError("--canary must be 0 or more")
    fleet = _fleet(args, template, which, options)
    out = console_fleet.make_console(_color(args))
    plan = _make_plan(args, fleet, out)
    if not args.json:
        console_fleet.show_table(out, console_fleet.plan_table(plan, sys.stdout.isatty()))
        out.print(console_fleet.plan_footer(plan), highlight=False)
    if not _confirmed(args, plan):
        if args.json:
            sys.stdout.write(
                json.dumps({"plan": plan.to_json(), "applied": False}, ensure_ascii=False) + "\n"
            )
        return EXIT_ERROR
    display = _display(args, out, len(plan.portals), "applying")
    with display.shown():
        result = fleet.apply(
            plan,
            canary=args.canary,
            progress=display.event,
            done=lambda r: display.finished(r.portal, console_fleet.result_line(r)),
        )
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        console_fleet.show_table(out, console_fleet.outcome_table(result, sys.stdout.isatty()))
        out.print(console_fleet.outcome_footer(result), highlight=False)
    return EXIT_OK if result.ok else EXIT_ERROR


def _confirmed(args, plan: FleetPlan) -> bool:
    """--yes, or a "y" typed at the terminal; without a terminal, --yes is required."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise CommandError(
            "apply changes the portals: add --yes to confirm (review the summary above, or run "
            "'b24app plan' with the same portals first)"
        )
    count = sum(1 for p in plan.portals if not p.error)
    answer = input(f"Apply {Path(plan.template).name} to {count} portal(s)? [y/N] ")
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("Nothing was applied.", file=sys.stderr)
    return False


def _color(args) -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and not getattr(args, "no_color", False)


__all__ = ["cmd_fleet_apply", "cmd_fleet_plan", "is_fleet", "single_portal"]
