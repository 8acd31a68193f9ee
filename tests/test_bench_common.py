"""bench.common's file writes: results JSON written by several processes at once stays whole."""

from __future__ import annotations

import json
import threading

from bench.common import exclusive, fmt_band, write_json


def test_concurrent_writes_of_one_json_each_land_whole(tmp_path):
    """Two writers of the same results file (two bench.learning invocations ending together):
    each rename carries a whole file of its own, none fails, no temp file is left behind."""
    path = tmp_path / "learning.json"
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            for i in range(200):
                write_json(path, {"writer": tag, "i": i, "pad": "x" * 20_000})
        except BaseException as e:  # noqa: BLE001 - collected for the assertion below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(path.read_text())["i"] == 199
    assert [p.name for p in tmp_path.iterdir()] == ["learning.json"]


def test_exclusive_blocks_a_second_holder_until_the_first_leaves(tmp_path):
    lock, order = tmp_path / ".x.lock", []

    def second() -> None:
        with exclusive(lock):
            order.append("second")

    with exclusive(lock):
        t = threading.Thread(target=second)
        t.start()
        t.join(timeout=0.5)
        order.append("first")
    t.join(timeout=10)
    assert order == ["first", "second"]


def test_a_published_band_of_one_figure_reads_as_that_figure():
    assert fmt_band((3500.0, 3500.0)) == "3,500"
    assert fmt_band((2000.0, 3000.0)) == "2,000–3,000"
    assert fmt_band(None) == "-"
