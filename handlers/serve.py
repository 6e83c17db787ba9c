"""``b24app serve``: the web app on waitress, migrated on start, with its in-process job worker.

``--sandbox [--portals N]`` also starts sandbox portals (and their OAuth server) in-process, with
b24app registered on each as its local app, and prints per portal the URL of the portal page that
opens b24app: install -> plan -> Apply with no setup. The CLI finds this command through the
``b24app.commands`` entry point (b24app never imports handlers).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8000
THREADS = 8


def add_command(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the web app (install, events, the in-portal page) on waitress")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)"
    )
    p.add_argument("--threads", type=int, default=THREADS, help=f"request threads (default {THREADS})")
    p.add_argument(
        "--no-worker",
        action="store_true",
        help="web only: jobs, resyncs and the schedule run in `b24app worker` processes (this or other machines)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes sharing the port (Linux SO_REUSEPORT; default 1); the job worker runs in the first",
    )
    p.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # one of --processes N
    p.add_argument("--sandbox", action="store_true", help="also run sandbox portals with b24app registered")
    p.add_argument("--portals", type=int, default=1, help="sandbox portals to start (default 1)")
    p.add_argument("--lang", choices=("ru", "en"), default="ru", help="the sandbox portals' language")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    from b24app.store import Settings, SettingsError, StoreError

    if not 1 <= args.portals <= 20:
        print("error: --portals must be between 1 and 20", file=sys.stderr)
        return 1
    if args.processes != 1:
        from handlers import serve_processes

        return serve_processes.run(args)
    try:
        listener = _listen(args.host, args.port, reuse_port=args.reuse_port)
    except OSError as error:
        print(
            f"error: cannot listen on {args.host}:{args.port} ({error.strerror}); pick another --port",
            file=sys.stderr,
        )
        return 1
    sandbox = settings = None
    try:
        settings = Settings.from_env(os.environ)
        if args.sandbox:
            sandbox, settings = _start_sandbox(args, settings, listener)
        return _serve(listener, settings, args, sandbox)
    except (SettingsError, StoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        listener.close()
        if sandbox is not None:
            sandbox.stop()
            shutil.rmtree(settings.instance, ignore_errors=True)  # the portals are gone: so is their database


def _listen(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:  # the processes of --processes N: the kernel spreads the connections over them
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    return listener


def _address(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _serve(listener: socket.socket, settings, args: Any, sandbox) -> int:
    import waitress

    from b24app.store import Store
    from handlers import create_app

    store = Store.open(settings)  # migrates to the latest revision
    app = create_app(settings, store=store, start_jobs=not args.no_worker)
    if sandbox is not None:
        _register_on_sandbox(store, settings, sandbox)
    elif not settings.public_url and not args.reuse_port:  # --processes N warns once
        print(
            "warning: B24APP_PUBLIC_URL is not set; portals cannot install b24app until it is",
            file=sys.stderr,
        )
    if args.no_worker and not args.reuse_port:
        print("no job worker here: run `b24app worker` (same settings) to run jobs", file=sys.stderr)
    # waitress warns "Task queue depth is N" on every request that waits for a thread: under a
    # burst of events that is a line per request, costing more than the request (its queue is bounded
    # by the connections, and a slow server shows in its answers' time, not in a log flood)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = waitress.create_server(app, sockets=[listener], threads=args.threads, ident="b24app")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop as on Ctrl-C: the finally blocks run
    print(f"b24app serves on http://{_address(listener)}/ (Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        jobs = app.extensions.get("b24app.jobs")
        if jobs is not None:
            jobs.stop_consumer()
        store.close()
    return 0


# -- the sandbox ----------------------------------------------------------------------------------


def _start_sandbox(args: Any, settings, listener: socket.socket):
    """Sandbox portals, and settings pointing at them: loopback allowed, a throwaway instance."""
    from b24app.sandbox.server import Sandbox
    from b24app.store.settings import DATABASE_FILE, sqlite_url

    host = args.host if args.host not in ("0.0.0.0", "::") else "127.0.0.1"
    sandbox = Sandbox(host=host, port=0, portals=args.portals, lang=args.lang)
    sandbox.start()
    instance = Path(tempfile.mkdtemp(prefix="b24app-sandbox-"))
    templates = settings.templates if _has_templates(settings.templates) else _example_library(instance)
    keep_database = bool(os.environ.get("DATABASE_URL"))
    settings = replace(
        settings,
        instance=instance,
        database_url=settings.database_url if keep_database else sqlite_url(instance / DATABASE_FILE),
        templates=templates,
        oauth_url=sandbox.oauth_url.rstrip("/"),
        public_url=f"http://{_address(listener)}",
        allow_loopback=True,
    )
    print(f"sandbox OAuth server and control API: {sandbox.control_url}", file=sys.stderr)
    print(f"sandbox instance (database, key; removed on exit): {instance}", file=sys.stderr)
    print(f"template library: {templates}", file=sys.stderr)
    return sandbox, settings


def _has_templates(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.yaml"))


def _example_library(instance: Path) -> Path:
    from b24app import console

    folder = instance / "templates"
    folder.mkdir()
    (folder / "example.yaml").write_text(console.example_template_text(), encoding="utf-8")
    return folder


def _register_on_sandbox(store, settings, sandbox) -> None:
    """b24app as each portal's local app: registered here and on the portal, then its page's URL printed."""
    from b24app.manifest import load_manifest

    manifest = load_manifest()
    scopes = [scope.code for scope in manifest.scopes]
    for number, handle in enumerate(sandbox.portals):
        client_id = f"local.{secrets.token_hex(7)}.{number + 1}"
        client_secret = secrets.token_urlsafe(32)
        registration = store.registrations.add(client_id, client_secret, name=f"sandbox {handle.name}")
        urls = manifest.urls(settings.public_url, registration.slug)
        sandbox.register_app(
            number,
            handler_url=urls.handler,
            install_url=urls.install,
            scopes=scopes,
            client_id=client_id,
            client_secret=client_secret,
        )
        print(f"{handle.name}: {handle.base_url}marketplace/app/{client_id}/", flush=True)
