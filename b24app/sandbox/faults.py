"""Switchable per-portal faults for REST requests, deterministic through counts and a seeded RNG.

Each fault kind takes either an int N (the next N requests get it) or a float ratio in [0, 1]
(each request gets it with that probability, drawn from a RNG seeded by `seed`). Counts win over ratios
and are consumed in the order of FAULT_KINDS. `after: N` lets the next N requests pass before any
fault applies (to hit the Nth request of a run). `drop` carries the request out, then answers with
an HTML error page: the work is done but the answer is lost, as when a run dies mid-request.
`latency` delays every request; `method_latency: {"crm.category.add": 0.3}` delays only the requests
that call that method (also inside a batch), to widen a race window.
"""

from __future__ import annotations

import random
import threading

FAULT_KINDS = ("timeout", "error500", "html", "drop", "rate_storm", "operation_limit")
DEFAULT_HANG = 1.0


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._rng = random.Random(self._seed)
            self.latency = 0.0
            self.method_latency: dict[str, float] = {}
            self._after = 0
            self.hang = DEFAULT_HANG
            self._counts: dict[str, int] = {}
            self._ratios: dict[str, float] = {}

    def configure(self, spec: dict) -> None:
        """Adds the given faults to the current ones; raises ValueError on a bad spec (nothing applied)."""
        counts, ratios = {}, {}
        for key, value in spec.items():
            if key in FAULT_KINDS:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"fault {key!r}: give a count (int) or a ratio (float 0..1)")
                if isinstance(value, int):
                    counts[key] = value
                elif value <= 1:
                    ratios[key] = float(value)
                else:
                    raise ValueError(f"fault {key!r}: a ratio must be between 0 and 1")
            elif key in ("latency", "hang", "seed", "after"):
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{key!r} must be a non-negative number")
            elif key == "method_latency":
                _check_method_latency(value)
            else:
                known = ", ".join((*FAULT_KINDS, "latency", "method_latency", "hang", "seed", "after"))
                raise ValueError(f"unknown fault {key!r}; known: {known}")
        with self._lock:
            self._counts.update(counts)
            self._ratios.update(ratios)
            if "latency" in spec:
                self.latency = float(spec["latency"])
            if "method_latency" in spec:
                self.method_latency.update({m.lower(): float(v) for m, v in spec["method_latency"].items()})
            if "after" in spec:
                self._after = int(spec["after"])
            if "hang" in spec:
                self.hang = float(spec["hang"])
            if "seed" in spec:
                self._seed = int(spec["seed"])
                self._rng = random.Random(self._seed)

    def draw(self) -> str | None:
        """The fault the next request gets, or None."""
        with self._lock:
            if not self._counts and not self._ratios:
                return None
            if self._after > 0:
                self._after -= 1
                return None
            for kind in FAULT_KINDS:
                if self._counts.get(kind, 0) > 0:
                    self._counts[kind] -= 1
                    return kind
            for kind in FAULT_KINDS:
                ratio = self._ratios.get(kind)
                if ratio and self._rng.random() < ratio:
                    return kind
            return None

    def delay_for(self, methods: list[str]) -> float:
        """The extra delay of a request that calls these methods (the longest that applies)."""
        with self._lock:
            return max((self.method_latency.get(m.lower(), 0.0) for m in methods), default=0.0)

    def to_json(self) -> dict:
        with self._lock:
            return {
                "latency": self.latency,
                "method_latency": dict(self.method_latency),
                "after": self._after,
                "hang": self.hang,
                "counts": {k: v for k, v in self._counts.items() if v},
                "ratios": dict(self._ratios),
            }


def _check_method_latency(value: object) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(m, str) and not isinstance(v, bool) and isinstance(v, int | float) and v >= 0
        for m, v in value.items()
    ):
        raise ValueError("'method_latency' must map method names to non-negative numbers of seconds")
