"""Stopping a run cleanly: a stop request ends training at the next chunk boundary, with a
checkpoint of that step.

Why: a chunk runs as one XLA program, and a signal's default action (or the KeyboardInterrupt
that Ctrl-C raises once the chunk returns) ends the process without saving, so everything since
the last periodic checkpoint is lost: up to `checkpoint_every` env steps, minutes of updates on a
CPU. Schedulers stop jobs with SIGTERM and a grace period before SIGKILL (SLURM's preemption and
time limit, `timeout`, Kubernetes, `bench.learning --timeout`); the chunk in progress finishes
and is saved within it, and `--resume` continues exactly from there. A second signal stops at
once, as before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Signals this close together are one request: Ctrl-C reaches a whole process group, and a
# parent (bench.learning) passes its own signal on to its worker as well.
SAME_REQUEST_S = 1.0


class StopRequest:
    """Set once (by a signal handler, or by a caller from any thread); the host loop reads it
    between chunks. `reason` is what asked: 'SIGTERM', 'SIGINT' or the caller's words."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def __bool__(self) -> bool:
        return self.reason is not None


def exit_code(reason: str | None) -> int:
    """The shell's code for a process ended by that signal (130 for SIGINT, 143 for SIGTERM),
    so a wrapper script sees that the run did not finish; 0 for anything else."""
    try:
        return 128 + int(signal.Signals[reason]) if reason else 0
    except KeyError:
        return 0


def _say(text: str) -> None:
    # A handler may run while the main thread is inside print() on the same stream (a buffered
    # stream refuses re-entry), so it writes to the stderr descriptor directly.
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """While inside, SIGTERM and a first Ctrl-C set `stop`; a second one of either (more than
    SAME_REQUEST_S later) raises KeyboardInterrupt at once. The previous handlers come back on
    exit. Off the main thread (where Python cannot install handlers) the signals keep their
    usual effect."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    first: list[float] = []

    def handler(signum: int, frame: object) -> None:
        name, now = signal.Signals(signum).name, time.monotonic()
        if stop:
            if first and now - first[0] <= SAME_REQUEST_S:
                return  # the same request twice (a terminal's Ctrl-C and a parent passing it on)
            raise KeyboardInterrupt(f"{name} after a stop request")
        first.append(now)
        stop.request(name)
        _say(f"\n{name}: stopping after the training chunk in progress, with a checkpoint of "
             "its step (send it again to stop at once, losing the steps since the last "
             "checkpoint)\n")

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
