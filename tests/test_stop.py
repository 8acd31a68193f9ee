"""Stopping a run on request: after the chunk in progress, with a checkpoint of its step, from
which --resume continues exactly; SIGTERM and Ctrl-C ask for it, a second signal stops at once;
a benchmark worker past its timeout gets SIGTERM and a grace period before SIGKILL."""

from __future__ import annotations

import io
import signal
import threading

import jax
import numpy as np
import pytest
from helpers_runs import tiny_config

from bench.common import run_worker
from mjxrsm.core.trainer import make_trainer
from mjxrsm.rundir import stop as stop_module
from mjxrsm.rundir.checkpoint import Checkpointer
from mjxrsm.rundir.stop import StopRequest, exit_code, stop_on_signals
from mjxrsm.train import run

CHUNK = 16  # tiny_config: 4 iterations x 4 envs per chunk

main_thread_only = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be installed on the main thread")


class _OnLine(io.StringIO):
    """A log stream that calls `action` once, when a line containing `marker` is written:
    here, as the first training chunk is logged."""

    def __init__(self, marker: str, action) -> None:
        super().__init__()
        self.marker, self.action, self.done = marker, action, False

    def write(self, text: str) -> int:
        n = super().write(text)
        if self.marker in text and not self.done:
            self.done = True
            self.action()
        return n


def _config():
    c = tiny_config("dpmd")
    c.total_env_steps = c.eval_every = 100 * CHUNK  # a run that a stop cuts short
    c.checkpoint_every = 4 * CHUNK  # so that the only checkpoint at CHUNK is the stop's
    return c


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_a_stop_request_ends_the_run_after_its_chunk_and_resume_continues_exactly(tmp_path):
    c = _config()
    a, b = tmp_path / "a", tmp_path / "b"
    run(c, a, max_chunks=2)
    stop = StopRequest()
    log = _OnLine(f"env steps {CHUNK}/", lambda: stop.request("test"))
    summary = run(c, b, stream=log, stop=stop)
    assert summary["stopped"] == "test" and not summary["finished"]
    assert summary["env_steps"] == CHUNK
    assert f"stopped on request (test) at env step {CHUNK}" in log.getvalue()
    assert Checkpointer(b / "checkpoints").latest_step() == CHUNK
    summary = run(c, b, resume=True, max_chunks=1)
    assert summary["stopped"] is None and summary["env_steps"] == 2 * CHUNK
    template = make_trainer(c).init(jax.random.PRNGKey(0))
    sa, _ = Checkpointer(a / "checkpoints").restore(template)
    sb, _ = Checkpointer(b / "checkpoints").restore(template)
    for x, y in zip(_leaves(sa), _leaves(sb), strict=True):
        np.testing.assert_array_equal(x, y)


@main_thread_only
def test_sigterm_stops_the_run_with_a_checkpoint_and_the_handler_is_put_back(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    log = _OnLine(f"env steps {CHUNK}/", lambda: signal.raise_signal(signal.SIGTERM))
    summary = run(_config(), tmp_path, stream=log)
    assert summary["stopped"] == "SIGTERM" and summary["env_steps"] == CHUNK
    assert Checkpointer(tmp_path / "checkpoints").latest_step() == CHUNK
    assert signal.getsignal(signal.SIGTERM) is before
    assert exit_code(summary["stopped"]) == 143


@main_thread_only
def test_a_second_signal_stops_at_once_unless_it_is_the_same_request(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(stop_module.time, "monotonic", lambda: clock[0])
    before = signal.getsignal(signal.SIGINT)  # pytest-xdist's workers ignore SIGINT
    with stop_on_signals(StopRequest()) as stop:
        signal.raise_signal(signal.SIGINT)
        assert stop.reason == "SIGINT"
        clock[0] += 0.5  # a terminal's Ctrl-C and a parent passing it on: one request
        signal.raise_signal(signal.SIGTERM)
        assert stop.reason == "SIGINT"
        clock[0] += 5.0
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_exit_codes_say_which_signal_stopped_the_run():
    assert (exit_code("SIGINT"), exit_code("SIGTERM")) == (130, 143)
    assert exit_code("a caller") == exit_code(None) == 0


def test_a_worker_past_its_timeout_gets_sigterm_and_its_result_is_kept():
    res = run_worker("tests.helpers_worker", {"kind": "polite"}, timeout=1.0, grace_s=30)
    assert res["timed_out"] and "stopped within its grace period" in res["error"]
    assert res["partial"]["stopped"] == "SIGTERM"
    assert res["worker_wall_s"] < 20


def test_a_worker_that_ignores_sigterm_is_killed_after_the_grace_period():
    res = run_worker("tests.helpers_worker", {"kind": "stubborn"}, timeout=1.0, grace_s=1.0)
    assert res["timed_out"] and "killed after a 1 s grace period" in res["error"]
    assert "partial" not in res
