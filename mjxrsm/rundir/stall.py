"""A watchdog for the host loop: a jitted chunk that stops making progress says so in one line.

A chunk runs as one XLA program, so a hang inside it (a deadlocked thread pool, a callback that
never returns) would otherwise leave a silent process. The watch learns how long a chunk takes
and, when one runs far longer (compiles excluded: the first chunk of each kind gets the generous
`first_limit_s`), prints one line with what to do; the run itself is not touched.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

STALL_FACTOR = 20.0  # a chunk this many times slower than the last one is reported
MIN_LIMIT_S = 300.0  # ... but never before this long
FIRST_LIMIT_S = 1800.0  # compile + first chunk


class StallWatch:
    """`with watch.chunk("training chunk"):` around each blocking call."""

    def __init__(self, stream: Any = sys.stderr, poll_s: float = 5.0,
                 first_limit_s: float = FIRST_LIMIT_S, min_limit_s: float = MIN_LIMIT_S) -> None:
        self.stream = stream
        self.poll_s = poll_s
        self.first_limit_s = first_limit_s
        self.min_limit_s = min_limit_s
        self.last_s: dict[str, float] = {}
        self.reported: list[str] = []

    def limit(self, label: str) -> float:
        last = self.last_s.get(label)
        return self.first_limit_s if last is None else max(self.min_limit_s, STALL_FACTOR * last)

    def chunk(self, label: str) -> _Watching:
        return _Watching(self, label)


class _Watching:
    def __init__(self, watch: StallWatch, label: str) -> None:
        self.watch, self.label = watch, label
        self.done = threading.Event()

    def __enter__(self) -> _Watching:
        self.t0 = time.time()
        limit = self.watch.limit(self.label)
        self.thread = threading.Thread(target=self._wait, args=(limit,), daemon=True)
        self.thread.start()
        return self

    def _wait(self, limit: float) -> None:
        if self.done.wait(limit):
            return
        last = self.watch.last_s.get(self.label)
        usual = f"one usually takes {last:.0f} s here" if last else "the first includes compiling"
        line = (f"warning: no {self.label} has finished in {limit / 60:.0f} min ({usual}): the "
                "run may be stalled. If the process uses no CPU, it is hung: kill it and "
                "continue with --resume (docs/TROUBLESHOOTING.md, 'a run that hangs')")
        self.watch.reported.append(line)
        print(line, file=self.watch.stream, flush=True)

    def __exit__(self, *exc: Any) -> None:
        self.done.set()
        self.watch.last_s[self.label] = time.time() - self.t0
