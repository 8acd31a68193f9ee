"""How `utd_ratio` maps onto vector steps. Plain Python (no JAX): the config check uses it to
refuse a ratio whose product with `num_envs` is not integral before anything is imported or
compiled; the trainer uses it to build the update loop."""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class UpdateSchedule:
    """How `utd_ratio` maps onto vector steps: `per_iter` updates every `every` iterations."""

    per_iter: int
    every: int

    @classmethod
    def from_ratio(cls, utd_ratio: float, num_envs: int) -> UpdateSchedule:
        per_step = utd_ratio * num_envs
        if per_step >= 1:
            if not math.isclose(per_step, round(per_step), rel_tol=1e-6):
                raise ValueError(
                    f"utd_ratio * num_envs = {per_step:g} must be an integer number of updates "
                    "per vector step (or 1/integer); adjust utd_ratio or num_envs"
                )
            return cls(int(round(per_step)), 1)
        every = 1.0 / per_step
        if not math.isclose(every, round(every), rel_tol=1e-6):
            raise ValueError(
                f"utd_ratio * num_envs = {per_step:g}: 1/{per_step:g} = {every:g} vector steps per "
                "update must be an integer; adjust utd_ratio or num_envs"
            )
        return cls(1, int(round(every)))
