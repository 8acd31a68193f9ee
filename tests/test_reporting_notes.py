"""The progress line's notes for a newcomer: no `nan` before the first evaluation, and a run that
will take many hours says so once, with the budget that ends in about two hours."""

from __future__ import annotations

import io

from mjxrsm.rundir.reporting import Reporter, long_run_note


def test_progress_says_no_eval_yet_and_notes_a_long_run_once(tmp_path):
    out = io.StringIO()
    r = Reporter(tmp_path, 1_000_000, tensorboard=False, stream=out)
    for step in (1_600, 3_200, 4_800):
        r.progress(step, env_sps=20.0, ups=20.0)
    text = out.getvalue()
    assert "eval return none yet" in text and "nan" not in text
    assert text.count("note: this machine manages 20 env-steps/s") == 1
    assert "--config.total_env_steps=" in text


def test_no_note_for_a_run_of_a_few_hours():
    assert long_run_note(1_600, 100_000, env_sps=50.0, eta_s=98_400 / 50.0) is None
    note = long_run_note(1_600, 1_000_000, env_sps=20.0, eta_s=998_400 / 20.0)
    assert note and "150000" in note
