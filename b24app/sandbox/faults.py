"""Switchable per-portal faults for REST requests, deterministic through counts and a seeded RNG.

Each fault kind takes either an int N (the next N requests get it) or a float ratio in [0, 1]
(each request gets it with that probability, drawn from a RNG seeded by `seed`). Counts win over ratios
and are consumed in the order of FAULT_KINDS. `lost` carries the request out and then answers like
`timeout`: the write happened, the answer never arrived.
"""

from __future__ import annotations

import random
import threading

FAULT_KINDS = ("timeout", "error500", "html", "rate_storm", "operation_limit", "lost")
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
            elif key in ("latency", "hang", "seed"):
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{key!r} must be a non-negative number")
            else:
                known = ", ".join((*FAULT_KINDS, "latency", "hang", "seed"))
                raise ValueError(f"unknown fault {key!r}; known: {known}")
        with self._lock:
            self._counts.update(counts)
            self._ratios.update(ratios)
            if "latency" in spec:
                self.latency = float(spec["latency"])
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
            for kind in FAULT_KINDS:
                if self._counts.get(kind, 0) > 0:
                    self._counts[kind] -= 1
                    return kind
            for kind in FAULT_KINDS:
                ratio = self._ratios.get(kind)
                if ratio and self._rng.random() < ratio:
                    return kind
            return None

    def to_json(self) -> dict:
        with self._lock:
            return {
                "latency": self.latency,
                "hang": self.hang,
                "counts": {k: v for k, v in self._counts.items() if v},
                "ratios": dict(self._ratios),
            }
