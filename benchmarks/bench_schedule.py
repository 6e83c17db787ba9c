"""The schedule's spread: 1,000 portals planned every 15 minutes, ticked through two periods.

Run: python benchmarks/bench_schedule.py [--portals N] [--minutes M] [--tick SECONDS]
     (target: every minute's resync requests within 10 % of the mean; exit 1 when missed)

A real SQLite store in a temporary folder gets N installed portals with a template (inserted through
the store); the schedule is then ticked as a worker does (every 10 s) with a simulated clock that
starts at an arbitrary second, not on a quarter hour: the first tick starts the schedule, and the
ticks of the next two periods ask for resyncs. Reported: the requests of each minute, their mean,
the largest deviation from it, that each portal was asked for once per period, and the time a tick
takes (the work of the one worker that holds the schedule's lock).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from b24app.schedule import tick
from b24app.store import PortalState, Settings, Store

TARGET = 0.10  # the largest deviation of a minute from the mean, as a share of the mean


def prepare(folder: Path, portals: int, minutes: int) -> tuple[Store, Settings]:
    settings = Settings.from_env({"B24APP_INSTANCE": str(folder), "B24APP_SCHEDULE_MINUTES": str(minutes)})
    store = Store.open(settings)
    for i in range(portals):
        portal = store.portals.upsert(
            f"{i:032x}",
            domain=f"portal{i}.bitrix24.example",
            client_endpoint=f"https://portal{i}.bitrix24.example/rest/",
            registration_id=None,
            state=PortalState.INSTALLED,
        )
        store.portals.assign_template(portal.id, "standard")
    return store, settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portals", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=15, help="the period (B24APP_SCHEDULE_MINUTES)")
    parser.add_argument("--tick", type=float, default=10.0, help="seconds between two ticks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, settings = prepare(Path(tmp), args.portals, args.minutes)
        try:
            start = datetime(2026, 12, 2, 9, 3, 27, 250000, tzinfo=UTC)  # not on a quarter hour
            step, periods = timedelta(seconds=args.tick), 2
            tick(store, settings, start)  # the first tick starts the schedule
            per_minute: Counter = Counter()
            asked: Counter = Counter()
            durations = []
            now = start + step
            while now <= start + periods * timedelta(minutes=args.minutes):
                began = time.perf_counter()
                portals = tick(store, settings, now)
                durations.append(time.perf_counter() - began)
                minute = int((now - step - start).total_seconds() // 60)  # the tick covers (now - step, now]
                per_minute[minute] += len(portals)
                asked.update(portals)
                now += step
            total = store.resyncs.total_requests()
        finally:
            store.close()
    counts = [per_minute[m] for m in range(periods * args.minutes)]
    mean = statistics.mean(counts)
    worst = max(abs(c - mean) for c in counts) / mean
    print(
        f"{args.portals} portals every {args.minutes} minutes, ticks every {args.tick:g} s, {periods} periods"
    )
    print(f"requests per minute: {counts}")
    print(
        f"mean {mean:.1f}/minute, min {min(counts)}, max {max(counts)}: "
        f"largest deviation {worst:.1%} (target <= {TARGET:.0%})"
    )
    print(
        f"each portal asked for {sorted(set(asked.values()))} time(s) in {periods} periods; "
        f"{total} requests stored (merged per portal)"
    )
    print(
        f"tick: median {statistics.median(durations) * 1000:.1f} ms, slowest {max(durations) * 1000:.1f} ms "
        f"({len(durations)} ticks, {sum(durations):.2f} s in all)"
    )
    ok = worst <= TARGET and set(asked.values()) == {periods} and len(asked) == args.portals
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
