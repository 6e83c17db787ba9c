"""The command line: validate, plan, apply, export, sandbox, demo.

Exit codes: plan 0 = in sync, 2 = changes to apply, 1 = error; apply 0 = applied and verified,
1 = error or not converged; validate and export 0 / 1. Errors are one clear message on stderr,
never a traceback, never a secret.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from b24app import template_files
from b24app.core.changes import Plan, PlanOptions
from b24app.core.dump import dump_template
from b24app.core.limits import MAX_TEMPLATE_BYTES, megabytes
from b24app.core.model import Template
from b24app.core.render import render_json, render_text
from b24app.core.template import TemplateError, load_template
from b24app.fleet_defaults import DEFAULT_CONCURRENCY
from b24app.lock import LOCK_DIR_ENV, FileLock, PortalBusy

if TYPE_CHECKING:
    from b24app import cli_store, sync
    from b24app.bitrix.client import Client
    from b24app.outcome import ApplyResult
    from b24app.progress import ProgressEvent
    from b24app.store import RunOutcome

# Start-up: building the parser imports no command's implementation. A command's module (the portal
# client, the store with SQLAlchemy and Alembic, rich for fleets, Flask for serve) is imported when
# that command runs; tests/unit/test_layering.py fails if an eager import comes back.

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
PORTAL_ENV = "B24APP_PORTAL"
PLAN_FILE_MAX_BYTES = 16 * MAX_TEMPLATE_BYTES  # a plan repeats each change's old and new values


class CliError(Exception):
    """An error for the user: printed as one message, exit 1."""


def read_text(path: str, what: str, limit: int = MAX_TEMPLATE_BYTES) -> str:
    """A UTF-8 text file ("-" = standard input) of at most ``limit`` bytes, or a CliError that says
    what to do. Never more than ``limit`` + 1 bytes are read, whatever the file is."""
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        file = Path(path)
        if file.is_dir():
            raise CliError(f"{what} {path} is a folder; give the path of a file")
        try:
            with file.open("rb") as stream:
                data = stream.read(limit + 1)
        except FileNotFoundError:
            raise CliError(f"{what} {path} not found; check the path") from None
        except OSError as error:
            raise CliError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if len(data) > limit:
        where = "on standard input" if path == "-" else path
        raise CliError(
            f"{what} {where} is larger than {megabytes(limit)}, the most b24app reads; "
            "give the right file, or split it (10,000 template entries take about 0.7 MB)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{what} {path} is not UTF-8 text; save it as UTF-8") from None


def _read_template(path: str):
    return _read_template_text(path)[0]


def _resolver():
    """Bases (``extends:``) are files next to the template, or names in the library (B24APP_TEMPLATES)."""
    library = os.environ.get("B24APP_TEMPLATES", "").strip()
    return template_files.file_resolver(Path(library) if library else None)


def _writable(path: str | None, what: str) -> None:
    """Refuse, before any request, an output path that cannot be written."""
    if not path or path == "-":
        return
    file = Path(path)
    if file.is_dir():
        raise CliError(f"cannot write the {what} to {path}: it is a folder; give a file name")
    if not file.parent.is_dir():
        raise CliError(f"cannot write the {what} to {path}: the folder {file.parent} does not exist")


def _write(path: str, text: str, what: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot write the {what} to {path}: {error.strerror or error}") from None


def _target(portal: str | None) -> contextlib.AbstractContextManager[cli_store.Target]:
    """The portal named by --portal (or B24APP_PORTAL): a webhook URL, or an installed portal's
    domain or member_id (then the store is opened, its tokens used and the run journaled)."""
    source = "--portal"
    if not portal:
        portal, source = os.environ.get(PORTAL_ENV), PORTAL_ENV
    if not portal or not portal.strip():
        raise CliError(
            f"no portal: pass --portal WEBHOOK_URL (or set {PORTAL_ENV}), e.g. "
            "https://example.bitrix24.ru/rest/1/abc123/, or an installed portal's domain or member_id"
        )
    from b24app import cli_store

    return cli_store.target(portal.strip(), source)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # as console.stderr, without importing the console


def _progress(args) -> sync.Progress:
    from b24app import console

    if getattr(args, "quiet", False):
        return lambda _: None

    def show(event: ProgressEvent) -> None:
        _stderr(f"{console.PROGRESS_MARK} {console.progress_text(event)}")

    return show


def _color(args) -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and not getattr(args, "no_color", False)


def _options(args) -> PlanOptions:
    return PlanOptions(
        prune=True if getattr(args, "prune", False) else None, force=getattr(args, "force", False)
    )


def _apply_hint(args, plan: Plan) -> str:
    parts = ["b24app apply", args.template, "--portal …"]
    if args.prune:
        parts.append("--prune")
    if plan.refusals:
        parts.append("--force")
    parts.append("--yes")
    return " ".join(parts)


# -- commands --------------------------------------------------------------------------------------


def cmd_validate(args) -> int:
    template = _read_template(args.template)
    managed = len(template.lists) + sum(
        x is not None for x in (template.deal_pipelines, template.invoice_pipelines)
    )
    smart = f", {len(template.smart_processes)} smart process(es)" if template.smart_processes else ""
    bases = [source.name for source in template.sources[1:]]
    extends = f"; extends {' → '.join(bases)}" if bases else ""
    if args.merged:
        sys.stdout.write(dump_template(template))
        _stderr(f"{args.template}: valid ({managed} list(s)/section(s) managed{smart}{extends})")
        return EXIT_OK
    print(f"{args.template}: valid ({managed} list(s)/section(s) managed{smart}{extends})")
    return EXIT_OK


def _read_template_text(path: str):
    text = read_text(path, "template")
    return load_template(text, source=path, resolver=_resolver()), text


def _which(args, template: Template, text: str) -> dict:
    """The journal's fields naming the template: its file, its hash and every file's hash."""
    from b24app import runs

    return {
        "template_name": Path(args.template).name,
        "template_hash": runs.template_hash(text),
        "template_sources": runs.template_sources(template),
    }


def cmd_plan(args) -> int:
    from b24app import fleet_cli, runs, sync
    from b24app.bitrix.errors import BitrixError
    from b24app.store import RunKind, RunOutcome

    if fleet_cli.is_fleet(args):
        template, text = _read_template_text(args.template)
        return fleet_cli.cmd_fleet_plan(args, template, _which(args, template, text), _options(args))
    args.portal = fleet_cli.single_portal(args)
    template, text = _read_template_text(args.template)
    _writable(args.out, "plan")
    which = _which(args, template, text)
    with _target(args.portal) as target:
        try:
            result, read = sync.make_plan(target.client, template, _options(args), _progress(args))
        except (BitrixError, sync.SyncError) as error:
            requests = target.client.requests_sent
            target.record(RunKind.PLAN, RunOutcome.FAILED, error=str(error), requests_used=requests, **which)
            raise
        target.record(
            RunKind.PLAN,
            RunOutcome.PLANNED,
            **which,
            **runs.planned(result, target.client.requests_sent, read.state, template),
        )
    client = target.client
    if read.is_admin is False and result.has_changes:
        _stderr(
            "note: the user behind this webhook is not a portal administrator; apply needs the CRM "
            "permission to modify settings (it checks before writing anything)"
        )
    if args.out:
        _write(args.out, render_json(result), "plan")
    if args.json:
        sys.stdout.write(render_json(result))
    else:
        sys.stdout.write(render_text(result, color=_color(args), apply_hint=_apply_hint(args, result)))
        if args.out:
            print(
                f"Plan saved to {args.out}; apply exactly it with: b24app apply {args.template} "
                f"--portal … --plan {args.out} --yes"
            )
    if not args.quiet:
        _stderr(f"… {client.requests_sent} request(s) to {client.domain}")
    # A conflict (two portal pipelines fit one template entry) is not "in sync" either.
    return EXIT_CHANGES if result.has_changes or result.conflicts else EXIT_OK


def _saved_plan(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        data = json.loads(read_text(path, "plan file", PLAN_FILE_MAX_BYTES))
        if not isinstance(data, dict) or not isinstance(data.get("checksum"), str):
            raise ValueError
    except ValueError:
        raise CliError(f"{path} is not a plan saved by 'b24app plan --out'") from None
    return data


def cmd_apply(args) -> int:
    from b24app import console, fleet_cli

    if fleet_cli.is_fleet(args):
        template, text = _read_template_text(args.template)
        return fleet_cli.cmd_fleet_apply(args, template, _which(args, template, text), _options(args))
    args.portal = fleet_cli.single_portal(args)
    template, text = _read_template_text(args.template)
    saved = _saved_plan(args.plan)
    if not args.yes:
        raise CliError(
            "apply changes the portal: add --yes to confirm (review the changes with 'b24app plan' first)"
        )
    with _target(args.portal) as target:
        _check_plan_portal(args, saved, target.client.domain)
        result = _journaled_apply(args, target, template, text, saved)
    for line in console.failure_lines(result) + console.late_blocked_lines(result):
        _stderr(line)
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        print("\n".join(console.outcome_lines(result)))
    return EXIT_OK if result.summary().ok else EXIT_ERROR


def _check_plan_portal(args, saved: dict | None, domain: str) -> None:
    """A saved plan applies only to the portal it was made for."""
    if saved is not None and saved.get("portal") not in (None, domain):
        raise CliError(
            f"{args.plan} is a plan for {saved['portal']}, not for {domain}; make and review a plan "
            f"for {domain} with: b24app plan {args.template} --portal … --out PLAN.json"
        )


def _journaled_apply(
    args, target: cli_store.Target, template: Template, text: str, saved: dict | None
) -> ApplyResult:
    """The apply; on an installed portal also under the store's portal lock and in its journal."""
    from b24app import cli_store, runs
    from b24app.bitrix.secrets import redact
    from b24app.store import RunKind, RunOutcome

    states: list = []
    with cli_store.portal_lock(target):
        run_id = target.record(
            RunKind.APPLY,
            RunOutcome.RUNNING,
            **_which(args, template, text),
        )
        try:
            result = _run_apply(args, target.client, template, saved, on_state=states.append)
        except CliError as error:
            _finish(
                target,
                run_id,
                RunOutcome.REFUSED,
                error=str(error),
                requests_used=target.client.requests_sent,
            )
            raise
        except BaseException as error:
            _finish(target, run_id, RunOutcome.FAILED, error=redact(str(error)) or type(error).__name__)
            raise
        outcome, details = runs.applied(result, states[0] if states else None, template)
        _finish(target, run_id, outcome, **details)
    return result


def _finish(target: cli_store.Target, run_id: int | None, outcome: RunOutcome, **details) -> None:
    if run_id is not None and target.store is not None:
        target.store.runs.finish(run_id, outcome, **details)


def _run_apply(args, client: Client, template: Template, saved: dict | None, on_state=None) -> ApplyResult:
    """sync.apply, showing the plan as it is made; its refusals worded for the terminal."""
    from b24app import console, sync

    color = _color(args)

    def show(plan: Plan) -> None:
        if not args.json:
            sys.stdout.write(render_text(plan, color=color))
            sys.stdout.flush()

    try:
        with _portal_lock(client.domain, wait=not args.no_wait):
            return sync.apply(
                client,
                template,
                _options(args),
                expected_checksum=saved and saved["checksum"],
                progress=_progress(args),
                on_plan=show,
                on_state=on_state,
            )
    except sync.PlanChanged as error:
        raise CliError(console.plan_changed_message(error, saved and saved.get("summary"))) from None
    except sync.UnsafePlan as error:
        raise CliError(console.unsafe_message(error)) from None


@contextlib.contextmanager
def _portal_lock(domain: str, *, wait: bool) -> Iterator[None]:
    """One apply per portal on this machine: wait for another run (saying so), or fail with --no-wait."""
    locks = FileLock()

    def waiting() -> None:
        _stderr(f"another b24app run is applying to {domain}; waiting… (use --no-wait to fail at once)")

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locks.hold(domain, wait=wait, on_wait=waiting))
        except PortalBusy:
            raise CliError(
                f"another b24app run is applying to {domain}; try again when it has finished, "
                "or leave out --no-wait to wait for it"
            ) from None
        except OSError as error:
            raise CliError(
                f"cannot take the lock for {domain} in {locks.directory}: {error.strerror or error}; "
                f"set {LOCK_DIR_ENV} to a writable folder"
            ) from None
        yield


def cmd_export(args) -> int:
    from b24app import sync

    _writable(args.output, "template")
    with _target(args.portal) as target:
        client = target.client
        template, _, warnings = sync.export(client, _progress(args))
    text = dump_template(template, header=f"Exported from {client.domain} by b24app export")
    if args.output and args.output != "-":
        _write(args.output, text, "template")
        _stderr(f"… wrote {args.output}")
    else:
        sys.stdout.write(text)
    for warning in warnings:
        _stderr(f"warning: {warning}")
    return EXIT_OK


def cmd_demo(args) -> int:
    from b24app.demo import run_demo  # loads the sandbox: only when asked for

    text = read_text(args.template, "template") if args.template else None
    return run_demo(template_text=text, source=args.template, lang=args.lang, color=_color(args))


def cmd_db(args) -> int:
    from b24app.store.commands import run_db

    return run_db(args.action)


def cmd_portal(args) -> int:
    from b24app import cli_store

    if args.action == "list":
        print("\n".join(cli_store.portal_list()))
    elif args.action == "policy":
        print(cli_store.portal_policy(args.portal, args.policy))
    else:
        print(cli_store.portal_assign(args.portal, args.template))
    return EXIT_OK


def cmd_worker(args) -> int:
    from b24app import cli_store

    return cli_store.run_worker(args.workers)


def cmd_example(args) -> int:
    from b24app import console

    sys.stdout.write(console.example_template_text())
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1: for ``plan``, 2 means "changes to apply"."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="b24app", description="Bitrix24 CRM reference lists as code.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def portal_args(p: argparse.ArgumentParser, fleet: bool = False) -> None:
        p.add_argument(
            "--portal",
            action="append" if fleet else "store",
            help=f"incoming-webhook URL, or an installed portal's domain or member_id (or set {PORTAL_ENV})"
            + ("; repeat it for several portals (a fleet run)" if fleet else ""),
        )
        if fleet:
            p.add_argument("--all", action="store_true", help="every portal installed in the store")
            p.add_argument(
                "--concurrency",
                type=int,
                metavar="N",
                help=f"portals worked on at once in a fleet run (default {DEFAULT_CONCURRENCY}); "
                "each keeps to its own request budget",
            )
            p.add_argument(
                "--attempts",
                type=int,
                metavar="N",
                help="fleet run: tries per request before a portal is reported as failing (default 6)",
            )
        p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
        p.add_argument("--no-color", action="store_true", help="no colours")

    p = sub.add_parser("validate", help="check a template")
    p.add_argument("template")
    p.add_argument(
        "--merged",
        action="store_true",
        help="print the template merged with the bases it extends, as YAML (the summary goes to stderr)",
    )
    p.set_defaults(func=cmd_validate)

    def sync_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("template")
        portal_args(p, fleet=True)
        p.add_argument(
            "--prune",
            action="store_true",
            help="delete portal entries the template lacks (lists saying prune: false excepted)",
        )

    p = sub.add_parser("plan", help="show what apply would change")
    sync_args(p)
    p.add_argument("--force", action="store_true", help="show the plan as apply --force would run it")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--out", metavar="PLAN.json", help="save the plan for 'apply --plan'")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("apply", help="apply the template to a portal")
    sync_args(p)
    p.add_argument("--force", action="store_true", help="accept a prune above the safety threshold")
    p.add_argument("--plan", metavar="PLAN.json", help="refuse if the portal changed since this plan")
    p.add_argument("--yes", action="store_true", help="confirm: really change the portal")
    p.add_argument("--json", action="store_true", help="print the result (plan, outcome, changes) as JSON")
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="fail at once if another b24app run is applying to this portal (default: wait for it)",
    )
    p.add_argument(
        "--canary",
        type=int,
        default=0,
        metavar="K",
        help="fleet run: apply to the first K portals first; stop if any of them does not converge",
    )
    p.set_defaults(func=cmd_apply)

    p = sub.add_parser("export", help="write a template from a portal")
    portal_args(p)
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    p.set_defaults(func=cmd_export)

    sub.add_parser("sandbox", help="run emulated Bitrix24 portals (b24app sandbox --help)", add_help=False)

    p = sub.add_parser("demo", help="plan and apply the example template on a sandbox portal")
    p.add_argument("--template", help="template to use (default: the bundled example); - for stdin")
    p.add_argument("--lang", choices=("ru", "en"), default="ru")
    p.add_argument("--no-color", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("db", help="the web app's database: upgrade it, rotate its key, make a key")
    p.add_argument("action", choices=("upgrade", "rotate-key", "new-key"))
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("portal", help="installed portals: list them, assign a template, set a policy")
    portal_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    portal_sub.add_parser("list", help="every portal: state, template, policy, last run, last plan")
    assign = portal_sub.add_parser("assign", help="assign a template of the library to a portal")
    assign.add_argument("portal", metavar="PORTAL", help="the portal's domain or member_id")
    assign.add_argument(
        "template", metavar="TEMPLATE", help="a template's name (its file name without .yaml)"
    )
    policy = portal_sub.add_parser("policy", help="what a resync does on a portal: report or apply")
    policy.add_argument("portal", metavar="PORTAL", help="the portal's domain or member_id")
    policy.add_argument(  # checked by the command (one clear error, exit 1), not by choices (exit 2)
        "policy",
        metavar="report|apply",
        help="report: plan and record drift only; apply: apply safe changes too",
    )
    p.set_defaults(func=cmd_portal)

    p = sub.add_parser("worker", help="run the job queue's worker (plans and applies from the web app)")
    p.add_argument("--workers", type=int, default=1, help="jobs run at once (different portals; default 1)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("example", help="print the bundled example template")
    p.set_defaults(func=cmd_example)

    from b24app import manifest, registrations  # light: their commands import the store when they run

    manifest.add_command(sub)
    p = sub.add_parser("journal", help="an installed portal's runs: plans, applies, rollbacks")
    p.add_argument("portal", metavar="PORTAL", help="the portal's domain or member_id")
    p.add_argument("--limit", type=int, default=50, help="how many runs, newest first (default 50)")
    p.add_argument("--json", action="store_true", help="print the runs as JSON")
    p.set_defaults(func=lazy("b24app.cli_rollback:cmd_journal"))

    p = sub.add_parser("rollback", help="bring a portal's lists back to the state before one of its runs")
    p.add_argument("run", metavar="RUN", type=int, help="the run's id (see b24app journal PORTAL)")
    p.add_argument("--yes", action="store_true", help="apply without asking")
    p.add_argument("--force", action="store_true", help="accept a prune above the safety threshold")
    p.add_argument("--json", action="store_true", help="print the plan and the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--no-color", action="store_true", help="no colours")
    p.set_defaults(func=lazy("b24app.cli_rollback:cmd_rollback"))

    p = sub.add_parser("library", help="the template library: sync it (git) and queue the portals it changed")
    library_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    sync_parser = library_sub.add_parser(
        "sync",
        help="update the library now, hash its templates, queue a resync of the portals whose template changed",
    )
    sync_parser.add_argument(
        "--templates", metavar="A,B", help="only these templates (names without .yaml; default: all)"
    )
    p.set_defaults(func=lazy("b24app.library:cmd_library"))

    registrations.add_command(sub)
    for plugin in entry_points(group="b24app.commands"):  # e.g. serve, from the web layer (handlers)
        plugin.load()(sub)  # a plugin's add_command imports nothing heavy (handlers/serve.py)
    return parser


def lazy(target: str) -> Callable[[argparse.Namespace], int]:
    """The command function ``"module:function"``, imported only when its command runs."""
    module, _, name = target.partition(":")

    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), name)(args)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:  # the sandbox has its own options and --help
        from b24app.sandbox.cli import main as sandbox_main

        return sandbox_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TemplateError as error:
        _stderr(f"error: the template is not valid ({len(error.problems)} problem(s)):")
        for problem in error.problems:
            _stderr(f"  {problem}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _stderr("interrupted; nothing more was sent. Running the command again is safe.")
        return EXIT_ERROR
    except Exception as error:  # never a traceback for users; the message names the failure
        return _failed(error)


# The errors told to the user as they are. A class whose module was never imported cannot have been
# raised, so the modules are not imported to name them (a template error would pay for them).
_USER_ERRORS = (
    ("b24app.cli_store", "CommandError"),
    ("b24app.sync", "SyncError"),
    ("b24app.bitrix.errors", "BitrixError"),
    ("b24app.store.errors", "StoreError"),
)


def _failed(error: Exception) -> int:
    """One line for an error: the user's own, or an unexpected one (never a traceback)."""
    loaded = [sys.modules.get(module) for module, _ in _USER_ERRORS]
    kinds = tuple(getattr(m, name) for m, (_, name) in zip(loaded, _USER_ERRORS, strict=True) if m)
    if isinstance(error, (CliError, *kinds)):
        _stderr(f"error: {error}")
        return EXIT_ERROR
    from b24app.bitrix.secrets import redact

    _stderr(
        f"error: unexpected {type(error).__name__}: {redact(str(error))}. "
        "Please report it; rerunning is safe."
    )
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
