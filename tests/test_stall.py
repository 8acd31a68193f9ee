"""The host loop's watchdog: a chunk that runs far past its usual time is reported in one line."""

from __future__ import annotations

import io
import time

from mjxrsm.rundir.stall import StallWatch


def test_a_stalled_chunk_is_reported_once_and_a_normal_one_is_not():
    out = io.StringIO()
    watch = StallWatch(out, first_limit_s=0.2, min_limit_s=0.2)
    with watch.chunk("training chunk"):
        time.sleep(0.005)  # the first chunk: under its limit
    assert out.getvalue() == ""
    with watch.chunk("training chunk"):
        time.sleep(0.6)  # far past 20x the last one and the 0.2 s floor
    text = out.getvalue()
    assert text.count("\n") == 1 and "no training chunk has finished" in text
    assert "--resume" in text
