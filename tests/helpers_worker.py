"""Workers for the run_worker tests (`python -m tests.helpers_worker --worker SPEC OUT`):
`polite` stops on SIGTERM the way a training worker does; `stubborn` ignores it."""

from __future__ import annotations

import signal
import sys
import time

from bench.common import worker_main
from mjxrsm.rundir.stop import StopRequest, stop_on_signals


def polite(spec: dict) -> dict:
    with stop_on_signals(StopRequest()) as stop:
        while not stop:
            time.sleep(0.02)
    return {"stopped": stop.reason}


def stubborn(spec: dict) -> dict:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(0.02)


if __name__ == "__main__":
    worker_main(sys.argv[2:], {"polite": polite, "stubborn": stubborn})
