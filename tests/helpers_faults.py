"""The real training CLI as a child process that the fault tests can SIGKILL at a chosen moment.

    python tests/helpers_faults.py HOLD -- <mjxrsm.train arguments>

HOLD is `none`, `save:STEP` (inside the write of the checkpoint of env step STEP: its arrays are
in Orbax's temporary directory, the rename that completes the save has not happened) or `eval:N`
(after the Nth evaluation computed, before it is logged). There the child prints `HOLD <what>`
on stderr and sleeps, so the parent's SIGKILL lands exactly there; nothing else is changed.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, not another installed copy


def _hold(what: str) -> None:
    print(f"HOLD {what}", file=sys.stderr, flush=True)
    time.sleep(3600)


def _hold_in_save(step: int) -> None:
    from orbax.checkpoint._src.path import atomicity

    original = atomicity.AtomicRenameTemporaryPath.finalize

    async def finalize(self, *args, **kwargs):
        if self._final_path.name == str(step):  # the step directory, not one of its items
            _hold(f"save {self.get()}")
        return await original(self, *args, **kwargs)

    atomicity.AtomicRenameTemporaryPath.finalize = finalize


def _hold_in_eval(n: int) -> None:
    import mjxrsm.core.trainer

    original = mjxrsm.core.trainer.make_trainer
    calls = [0]

    def make_trainer(config):
        trainer = original(config)

        def evaluate(state, key):
            out = trainer.evaluate(state, key)
            calls[0] += 1
            if calls[0] == n:
                _hold("eval")
            return out

        return dataclasses.replace(trainer, evaluate=evaluate)

    mjxrsm.core.trainer.make_trainer = make_trainer


def main() -> None:
    hold, sep, *args = sys.argv[1:]
    assert sep == "--", "usage: helpers_faults.py HOLD -- ARGS"
    if hold != "none":
        where, n = hold.split(":")
        {"save": _hold_in_save, "eval": _hold_in_eval}[where](int(n))
    from mjxrsm.train import cli

    cli(["mjxrsm.train", *args])


if __name__ == "__main__":
    main()
