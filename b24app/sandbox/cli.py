"""`b24app sandbox`: serve emulated portals until SIGINT/SIGTERM.

STDOUT gets exactly one `webhook: <url>` line per portal; everything else goes to STDERR.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import Sandbox
from .web import is_loopback

# Leaky-bucket settings (platform.md §5): (capacity, drain per second).
PLANS = {"standard": (50, 2.0), "enterprise": (250, 5.0), "off": (10**9, 10.0**9)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="b24app sandbox", description="Emulated Bitrix24 portals on loopback."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8024,
        help="OAuth server and control API port; portal N listens on PORT+N (default 8024)",
    )
    parser.add_argument("--portals", type=int, default=1, help="number of portals (default 1)")
    parser.add_argument("--lang", choices=("ru", "en"), default="ru", help="language of fresh portals")
    parser.add_argument(
        "--state", metavar="FILE", help="load portals from FILE if it exists, save them on exit"
    )
    parser.add_argument(
        "--documents", action="store_true", help="enable document signing (portals get document stages)"
    )
    parser.add_argument(
        "--limits",
        choices=sorted(PLANS),
        help="request limits of every portal: standard (Bitrix24's usual plans: burst 50, 2 requests/s; "
        "the default), enterprise (burst 250, 5/s) or off",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not is_loopback(args.host):
        print(
            f"error: --host {args.host} is not a loopback address; the sandbox serves plain http only on "
            "loopback (use 127.0.0.1, ::1 or localhost)",
            file=sys.stderr,
        )
        return 2
    if args.portals < 1 or not 0 <= args.port <= 65535 - args.portals:
        print("error: need --portals >= 1 and --port + --portals within 0..65535", file=sys.stderr)
        return 2
    sandbox = Sandbox(
        host=args.host,
        port=args.port,
        portals=args.portals,
        lang=args.lang,
        state_file=args.state,
        documents=args.documents,
    )
    try:
        sandbox.start()
    except (OSError, ValueError) as exc:
        print(f"error: cannot start the sandbox: {exc}", file=sys.stderr)
        return 1
    if args.limits:
        capacity, drain = PLANS[args.limits]
        for number in range(len(sandbox.portals)):
            sandbox.set_limits(number, capacity=capacity, drain=drain)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    for handle in sandbox.portals:
        print(f"webhook: {handle.webhook_url}", flush=True)
    print(
        f"OAuth server: {sandbox.oauth_url}\ncontrol API: {sandbox.control_url}control/portals\n"
        f"request limits per portal: burst {sandbox.portals[0].limits.capacity}, "
        f"{sandbox.portals[0].limits.drain:g}/s (--limits to change)\n"
        f"{len(sandbox.portals)} portal(s) serving; stop with Ctrl+C or SIGTERM"
        + (f" (state is saved to {args.state})" if args.state else ""),
        file=sys.stderr,
        flush=True,
    )
    stop.wait()
    sandbox.stop()
    print("sandbox stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
