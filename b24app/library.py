"""The template library as a git repository: update it, hash each template, queue the portals it changed.

A push to the integrator's template repository is announced by a signed webhook (handlers/hooks.py),
which only *asks* for a sync (``store.library.request``). A worker calls :func:`run_pending`, which
does the sync asked for, once, off the request:

1. update the library folder (``B24APP_TEMPLATES``):

   - ``B24APP_TEMPLATES_REPO`` set: the folder is b24app's clone of that repository (cloned on first
     use); each sync fetches it and resets it to the remote's default branch (local edits are lost:
     the repository is the truth);
   - otherwise, a folder that is the root of a git checkout is updated with ``git pull --ff-only``;
   - otherwise the folder is used as it is (hashes only);

2. hash every template named (or all): the SHA-256 of the files it is read from, *with its bases*
   (``extends``), so a change of ``base.yaml`` changes the hash of every template built on it. A
   template that does not load has no hash; it is reported, and its portals are not queued;
3. compare with the hashes of the last sync (table ``template_hashes``) and queue a resync
   (``store.resyncs.request``) of every installed portal assigned to a template whose hash changed.
   A template seen for the first time counts as changed: its portals were never synced against a
   known version of it, and a resync that finds nothing to do costs a plan, not a wrong portal.

The library folder is per machine, but a resync may run on any worker, on any machine. So a sync
records the git commit it hashed (``store.library.record_revision``) before it queues a resync, and
:func:`ensure_current` brings this machine's folder to that commit (without hashing or queueing) at
the start of every resync and in each worker's periodic duty: a worker never resyncs a portal to a
template older than the one its resync was queued for. Git commands that change the folder hold a
lock file (:func:`folder_lock`), so the processes of one machine never run two at once in it.

git runs as a subprocess (no shell), with a timeout and no prompt for a password: a repository that
needs one fails with a clear message instead of hanging a worker. Messages never show a password
written in a repository URL (``https://user:password@host/...``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from b24app.core.inherit import BaseNotFound
from b24app.core.template import TemplateError, load_template
from b24app.lock import default_lock_dir
from b24app.store import LockTimeout, PortalState, Settings, Store
from b24app.store.library import FAILED, Pending
from b24app.template_files import LIBRARY_NAME, library_file, library_resolver, read_base

GIT_TIMEOUT = 120.0  # seconds for one git command (a clone of a large repository included)
LOCK_WAIT = 5.0  # seconds run_pending waits for another worker's sync before leaving it the work
RETRY_AFTER = timedelta(minutes=5)  # after a failed sync (e.g. the repository unreachable)
SUFFIX = ".yaml"
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a full SHA-1 or SHA-256 object name
_checked: dict[str, str] = {}  # library folder -> the recorded revision it was last brought to (this process)


class LibraryError(Exception):
    """The library could not be updated: what went wrong and how to fix it (no credentials)."""


@dataclass
class SyncReport:
    """What one sync did."""

    names: tuple[str, ...] | None  # what was asked for (None: all)
    git: str = "not a git checkout: the folder is used as it is"
    error: str | None = None  # the update failed: nothing was hashed or queued
    hashes: dict[str, str] = field(default_factory=dict)  # every template hashed
    changed: list[str] = field(default_factory=list)  # templates whose hash changed (or first seen)
    unloadable: dict[str, str] = field(default_factory=dict)  # template -> why it has no hash
    missing: list[str] = field(default_factory=list)  # named, but not in the library
    queued: list[tuple[str, str]] = field(default_factory=list)  # (portal domain, template)
    merged: list[tuple[str, str]] = field(default_factory=list)  # merged into a resync already waiting

    def summary(self) -> str:
        if self.error:
            return f"library sync failed: {self.error}"
        parts = [f"{len(self.hashes)} template(s) hashed", f"changed: {', '.join(self.changed) or 'none'}"]
        portals = len(self.queued) + len(self.merged)
        parts.append(
            f"{portals} portal(s) queued" + (f" ({len(self.merged)} already waiting)" if self.merged else "")
        )
        if self.unloadable:
            parts.append(f"not loadable: {', '.join(sorted(self.unloadable))}")
        if self.missing:
            parts.append(f"not in the library: {', '.join(self.missing)}")
        return "; ".join(parts)


def redact_url(text: str) -> str:
    """``text`` with any ``user:password@`` of a URL replaced by ``***@``."""
    return _CREDENTIALS.sub(r"\1***@", text)


# -- git -------------------------------------------------------------------------------------------


def _git(args: list[str], cwd: Path | None = None) -> str:
    """Run git; its output, or LibraryError with its message (redacted)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    command = ["git", *args]
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise LibraryError(
            "git is not installed; install git, or keep B24APP_TEMPLATES a plain folder"
        ) from None
    except subprocess.TimeoutExpired:
        raise LibraryError(
            f"git {args[0]} took more than {GIT_TIMEOUT:g} s; check that the repository is reachable"
        ) from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        detail = redact_url(" ".join(lines[-3:]))[:500] or f"exit status {done.returncode}"
        raise LibraryError(f"git {args[0]} failed: {detail}")
    return done.stdout


def update_library(settings: Settings) -> str:
    """Bring the library folder up to date; a sentence saying what was done (LibraryError: failed)."""
    folder = settings.templates
    if settings.templates_repo:
        return _clone_or_fetch(settings.templates_repo, folder)
    if (folder / ".git").exists():
        _git(["pull", "--ff-only", "--quiet"], cwd=folder)
        return f"pulled ({_head(folder)})"
    return "not a git checkout: the folder is used as it is"


def _clone_or_fetch(repo: str, folder: Path) -> str:
    shown = redact_url(repo)
    if not (folder / ".git").exists():
        _clone(repo, folder)
        return f"cloned {shown} ({_head(folder)})"
    _fetch(repo, folder)
    _git(["remote", "set-head", "origin", "--auto"], cwd=folder)  # the remote's default branch, now
    _git(["reset", "--quiet", "--hard", "refs/remotes/origin/HEAD"], cwd=folder)
    return f"fetched {shown} ({_head(folder)})"


def _clone(repo: str, folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise LibraryError(
            f"B24APP_TEMPLATES ({folder}) holds files but is not a clone of B24APP_TEMPLATES_REPO "
            f"({redact_url(repo)}); empty that folder (b24app clones the repository into it) or point "
            "B24APP_TEMPLATES elsewhere"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    _git(["clone", "--quiet", "--", repo, str(folder)])


def _fetch(repo: str, folder: Path) -> None:
    _git(["remote", "set-url", "--", "origin", repo], cwd=folder)  # follow the setting if it changed
    _git(["fetch", "--quiet", "--prune", "origin"], cwd=folder)


def _head(folder: Path) -> str:
    return "commit " + _git(["rev-parse", "--short=12", "HEAD"], cwd=folder).strip()


def _head_commit(folder: Path) -> str:
    return _git(["rev-parse", "--verify", "HEAD^{commit}"], cwd=folder).strip()


def local_revision(settings: Settings) -> str | None:
    """The commit this machine's library folder is at; None when it is not a git checkout."""
    folder = settings.templates
    if not settings.templates_repo and not (folder / ".git").exists():
        return None
    return _head_commit(folder)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold the library folder against the other threads and processes of this machine (an flock,
    released by the operating system if the process dies): two git commands at once in one folder
    fail on git's own lock, and a sync must not see the folder moved back under it."""
    directory = default_lock_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:24]
    with open(directory / f"library-{digest}.lock", "a+b") as file:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX)  # the holder's git commands each end within GIT_TIMEOUT
        try:
            yield
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)


# -- this machine's folder at the recorded revision ------------------------------------------------


def ensure_current(store: Store, settings: Settings) -> str | None:
    """Bring this machine's library folder to the revision the last sync recorded; that revision, or
    None when none is recorded (a plain folder: nothing to do). LibraryError: it cannot be done.

    Nothing is hashed or queued: the sync that recorded the revision did that. Cheap when the folder
    is current: one small read of the database, and git runs only when the revision differs from the
    one this process last brought the folder to.
    """
    recorded = store.library.revision()
    if recorded is None:
        return None
    key = _folder_key(settings.templates)
    if _checked.get(key) == recorded:
        return recorded
    with folder_lock(settings.templates):
        recorded = store.library.revision()  # again, holding the folder: a sync here may have moved both
        if recorded is None:
            return None
        _bring_to(settings, recorded)
    _checked[key] = recorded
    return recorded


def _bring_to(settings: Settings, commit: str) -> None:
    """Make the folder exactly ``commit``: b24app's clone is fetched and reset to it; a checkout of the
    user's is fast-forwarded to it and checked (its own commits are never thrown away)."""
    folder = settings.templates
    if not _COMMIT.fullmatch(commit):
        raise LibraryError(
            f"the library revision recorded in the database ({commit[:80]!r}) is not a git commit; "
            "run `b24app library sync` to record the current one"
        )
    try:
        if settings.templates_repo:
            _reset_clone_to(settings.templates_repo, folder, commit)
        elif (folder / ".git").exists():
            _fast_forward_to(folder, commit)
        else:
            raise LibraryError(
                f"B24APP_TEMPLATES ({folder}) is not a git checkout, but the library sync recorded the git "
                f"commit {commit[:12]}: set B24APP_TEMPLATES_REPO on this machine as on the others (b24app "
                "then clones it), or make the folder a clone of the template repository"
            )
    except LibraryError as error:
        raise LibraryError(
            f"the library folder {folder} cannot be brought to commit {commit[:12]}, which the last library "
            f"sync hashed: {error}"
        ) from None


def _reset_clone_to(repo: str, folder: Path, commit: str) -> None:
    if not (folder / ".git").exists():
        _clone(repo, folder)
    elif _head_commit(folder) == commit:
        return
    else:
        _fetch(repo, folder)
    _git(["reset", "--quiet", "--hard", commit], cwd=folder)


def _fast_forward_to(folder: Path, commit: str) -> None:
    if _head_commit(folder) == commit:
        return
    _git(["fetch", "--quiet"], cwd=folder)
    _git(["merge", "--ff-only", "--quiet", commit], cwd=folder)
    head = _head_commit(folder)
    if head != commit:
        raise LibraryError(
            f"the checkout is at {head[:12]}, which has commits the sync did not hash (commits of its own, "
            "or a push whose sync has not run yet); the next library sync records it, or reset the "
            "checkout to the repository's branch"
        )


def _folder_key(folder: Path) -> str:
    return str(folder.resolve())


# -- hashes ----------------------------------------------------------------------------------------


def library_names(folder: Path) -> list[str]:
    """The templates of the library: ``NAME.yaml`` files directly in the folder."""
    if not folder.is_dir():
        return []
    names = (p.name[: -len(SUFFIX)] for p in folder.glob(f"*{SUFFIX}") if p.is_file())
    return sorted(name for name in names if LIBRARY_NAME.fullmatch(name))


def content_hash(folder: Path, name: str) -> str:
    """The SHA-256 of template ``name`` with its bases (each file's name and hash, in chain order).

    Raises TemplateError (the template does not load), BaseNotFound (its file cannot be read) or
    FileNotFoundError (no such template).
    """
    file = library_file(folder, name)
    if file is None or not file.is_file():
        raise FileNotFoundError(name)
    text = read_base(file, file.name)  # bounded, UTF-8 only (BaseNotFound says what is wrong)
    template = load_template(text, source=f"{name}{SUFFIX}", resolver=library_resolver(folder))
    digest = hashlib.sha256()
    for source in template.sources:
        digest.update(f"{source.name}\0{source.sha256}\n".encode())
    return digest.hexdigest()


def _hash_all(folder: Path, names: tuple[str, ...] | None, report: SyncReport) -> None:
    present = library_names(folder)
    wanted = present if names is None else [n for n in names if n in present]
    report.missing = [] if names is None else [n for n in names if n not in present]
    for name in wanted:
        try:
            report.hashes[name] = content_hash(folder, name)
        except TemplateError as error:
            first = error.problems[0] if error.problems else "it is not a valid template"
            report.unloadable[name] = f"{len(error.problems)} problem(s), first: {first}"[:300]
        except BaseNotFound as error:
            report.unloadable[name] = f"{error.message}; {error.hint}"[:300]
        except OSError as error:
            report.unloadable[name] = f"cannot be read ({type(error).__name__})"


# -- the sync --------------------------------------------------------------------------------------


def sync_library(
    store: Store, settings: Settings, names: list[str] | tuple[str, ...] | None = None
) -> SyncReport:
    """Update the library, hash the templates ``names`` (None: all), queue the portals whose template
    changed. Held under the store's ``library`` lock: one sync at a time across every worker."""
    with store.lock("library", timeout=GIT_TIMEOUT * 4):
        return _sync(store, settings, None if names is None else tuple(names))


def _sync(store: Store, settings: Settings, names: tuple[str, ...] | None) -> SyncReport:
    report = SyncReport(names)
    with folder_lock(settings.templates):
        try:
            report.git = update_library(settings)
            revision = local_revision(settings)
        except LibraryError as error:
            report.error = str(error)
            store.events.record("library.sync", "failed", detail=report.error[:1000])
            return report
        store.library.record_revision(revision)  # before any resync is queued: workers elsewhere read it
        _remember(settings, revision)
        _hash_all(settings.templates, names, report)
    known = store.template_hashes.all()
    report.changed = sorted(name for name, sha in report.hashes.items() if known.get(name) != sha)
    _queue(store, report)
    store.template_hashes.record({name: report.hashes[name] for name in report.changed})  # after queueing
    store.events.record("library.sync", "synced", detail=f"{report.git}; {report.summary()}"[:1000])
    return report


def _remember(settings: Settings, revision: str | None) -> None:
    """This process brought the folder to ``revision`` itself: ensure_current has nothing to do."""
    key = _folder_key(settings.templates)
    if revision is None:
        _checked.pop(key, None)
    else:
        _checked[key] = revision


def _queue(store: Store, report: SyncReport) -> None:
    """A resync of every installed portal assigned to a changed template."""
    changed = set(report.changed)
    for portal in store.portals.list():
        if portal.state != PortalState.INSTALLED or portal.template not in changed:
            continue
        reason = f"template {portal.template} changed ({report.hashes[portal.template][:12]})"
        new = store.resyncs.request(portal.id, reason)
        (report.queued if new else report.merged).append((portal.domain, portal.template))


def run_pending(store: Store, settings: Settings) -> SyncReport | None:
    """Do the sync asked for, if any (the worker calls this periodically); None when there was none,
    when another worker is doing it, or while a failed sync waits to be retried (RETRY_AFTER)."""
    if store.library.pending() is None:
        return None
    failed_at = store.library.clock(FAILED)
    if failed_at is not None and store.now() - failed_at < RETRY_AFTER:
        return None
    try:
        with store.lock("library", timeout=LOCK_WAIT):
            pending = store.library.pending()  # read again: another worker may have done it
            if pending is None:
                return None
            report = _sync(store, settings, pending.names)
            _finish(store, pending, report)
    except LockTimeout:
        return None
    return report


def _finish(store: Store, pending: Pending, report: SyncReport) -> None:
    if report.error:
        store.library.failed()  # kept pending: retried after RETRY_AFTER
        return
    store.library.done(pending)
    store.library.prune_deliveries()


# -- b24app library sync ---------------------------------------------------------------------------


def cmd_library(args) -> int:
    """``b24app library sync [--templates a,b]``: a sync now; prints the portals queued."""
    from b24app.cli_store import CommandError, opened_store

    names = None
    if args.templates:
        names = [n.strip().removesuffix(SUFFIX) for n in args.templates.split(",") if n.strip()]
        bad = [n for n in names if not LIBRARY_NAME.fullmatch(n)]
        if bad or not names:
            raise CommandError(
                "--templates takes template names separated by commas, e.g. --templates retail,acme "
                "(letters, digits, '-' and '_')"
            )
    with opened_store() as (store, settings):
        report = sync_library(store, settings, names)
    if report.error:
        raise CommandError(report.error)
    print(f"library {settings.templates}: {report.git}")
    for domain, template in report.queued:
        print(f"queued  {domain}  (template {template} changed)")
    for domain, template in report.merged:
        print(f"queued  {domain}  (template {template} changed; merged into the resync already waiting)")
    for name, why in sorted(report.unloadable.items()):
        print(f"not loadable  {name}: {why}", file=sys.stderr)
    print(report.summary())
    return 0
