"""Every setting has a range beside its default, every default is in range, every range refuses
what it should, and random command-line overrides are either accepted or refused with one line,
never a traceback (Hypothesis)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from configs.train import PRESETS, get_config
from mjxrsm.cli import input as cli_input
from mjxrsm.config import ranges
from mjxrsm.config.algorithms import algorithm_names, get_algorithm
from mjxrsm.config.check import ConfigError, setting_ranges, validate
from mjxrsm.config.ranges import Bool, Choice, Int, Name, Real, Widths, flat_items
from mjxrsm.train import define_flags

ROOT = Path(__file__).resolve().parents[1]
ALGOS = algorithm_names()
CONFIGS = [(a, p) for a in ALGOS for p in PRESETS]


def _keys(config) -> list[str]:
    return [k for k in flat_items(config) if not k.startswith("env.kwargs.")]


@pytest.mark.parametrize("algo", ALGOS)
def test_every_setting_has_a_range(algo):
    table = get_algorithm(algo).ranges()
    assert table is not None, (
        f"configs/algos/{algo}.py has no RANGES: add {{key: spec}} beside get_config() for every "
        "setting (specs in mjxrsm/config/ranges.py), so bad values are refused before compiling")
    for preset in PRESETS:
        config = get_config(f"point_mass,{algo},{preset}")
        missing = ranges.unranged(_keys(config), setting_ranges(algo))
        assert not missing, f"{algo}/{preset}: no range for {missing}"
    stale = set(table) - set(get_algorithm(algo).default_config())
    assert not stale, f"configs/algos/{algo}.py RANGES names keys its config lacks: {stale}"


@pytest.mark.parametrize("algo,preset", CONFIGS)
def test_every_default_is_in_range(algo, preset):
    validate(get_config(f"point_mass,{algo},{preset}"))
    validate(get_config(f"HalfCheetah-v5,{algo},{preset}"))


def _outside(spec):
    """A value of the setting's own type that `spec` must refuse (None: no such value)."""
    if isinstance(spec, Int):
        return spec.lo - 1 if spec.lo > -(2**62) else None
    if isinstance(spec, Real):
        if spec.lo is not None:
            return float(spec.lo) if spec.lo_open else float(spec.lo) - 1.0
        return float("nan")
    if isinstance(spec, Widths):
        return (0,)
    if isinstance(spec, Choice):
        return "no-such-option"
    return None  # Bool and Name: the type itself is the check (ml_collections keeps types)


@pytest.mark.parametrize("algo", ALGOS)
def test_every_range_refuses_a_value_just_outside(algo):
    """For each setting: the value just past its lower bound (or an unknown option) is refused
    by `validate`, with the setting named."""
    if get_algorithm(algo).ranges() is None:
        pytest.skip(f"configs/algos/{algo}.py has no RANGES (test_every_setting_has_a_range fails)")
    specs = setting_ranges(algo)
    checked = 0
    for key, spec in specs.items():
        value = _outside(spec)
        if value is None or key == "preset":
            continue
        config = get_config(f"point_mass,{algo},cpu")
        *path, leaf = key.split(".")
        node = config
        for part in path:
            node = node[part]
        node[leaf] = value
        with pytest.raises(ConfigError) as e:
            validate(config)
        assert f"{key}=" in str(e.value), (key, str(e.value))
        checked += 1
    assert checked >= 20


def test_specs_describe_their_bounds():
    assert Real(0.0, 1.0, hi_open=True).problem(1.0) == "a number in [0, 1)"
    assert Real(0.0, 1.0, lo_open=True).problem(1e-9) is None
    assert Real(0.0).problem(math.inf) is not None
    assert Int(1, 4).problem(True) is not None and Int(1, 4).problem(4) is None
    assert Widths(empty_ok=True).problem(()) is None and Widths().problem(()) is not None
    assert Bool().problem(1) is not None and Name("x").problem("") is not None


# Random command lines: known keys with values of any type, misspelt keys, odd flags.
_KEYS = sorted(set(_keys(get_config("point_mass,sdac,cpu"))) |
               set(_keys(get_config("point_mass,dpmd,cpu"))))
_value = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["True", "False", "maybe", "", "()", "(16,16)", "(0,)", "[]", "none",
                     "linear", "ddim", "mish", "nan", "1e-4", "0.5", "-1"]),
    st.text(alphabet="abc(),.-_=0123456789 ", max_size=12),
)
_key = st.one_of(st.sampled_from(_KEYS), st.sampled_from(_KEYS).map(lambda k: k + "x"),
                 st.sampled_from(["lr", "algo.foo.bar", "env.kwargs.box", "env.kwargs.boxx"]))
_override = st.tuples(_key, _value).map(lambda kv: f"--config.{kv[0]}={kv[1]}")
_extra = st.sampled_from(["--resume", "--max_chunks=0", "--max_chunks=2", "--workdir=",
                          "stray", "--allow_config_change"])


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(algo=st.sampled_from(ALGOS), overrides=st.lists(_override, max_size=4),
       extras=st.lists(_extra, max_size=2))
def test_random_overrides_start_or_are_refused_with_one_line(tmp_path, algo, overrides, extras):
    """The CLI's own parser on random input: a Request, or a UsageError whose message is one
    line; nothing else escapes, and nothing is written."""
    workdir = tmp_path / "never"
    argv = ["train", f"--config=configs/train.py:point_mass,{algo},cpu", f"--workdir={workdir}",
            *overrides, *extras]
    try:
        request = cli_input.parse(define_flags(argv), argv)
    except cli_input.UsageError as e:
        message = str(e)
        assert message and "\n" not in cli_input.one_line(message)
        assert "Traceback" not in message
    else:
        validate(request.config)  # accepted means valid
    assert not workdir.exists()


def _tiny_overrides() -> dict[str, str]:
    return {"num_envs": "4", "log_every": "16", "start_steps": "32", "replay_capacity": "256",
            "utd_ratio": "0.5", "total_env_steps": "32", "eval_every": "32",
            "checkpoint_every": "16", "eval_episodes": "2", "tensorboard": "False",
            "env.episode_length": "20", "algo.hidden": "(16,16)", "algo.batch_size": "16"}


@pytest.mark.slow
@settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(algo=st.sampled_from(ALGOS),
       overrides=st.dictionaries(st.sampled_from(["algo.lr", "algo.gamma", "algo.tau", "seed",
                                                  "normalize_obs", "algo.activation"]),
                                 _value, max_size=2))
def test_random_overrides_through_the_real_cli(tmp_path_factory, algo, overrides):
    """Through the real CLI (a subprocess that trains a chunk when accepted): exit 0, or exit 2
    with one `error:` line; never a traceback."""
    workdir = tmp_path_factory.mktemp("run") / "r"
    args = {**_tiny_overrides(), **overrides}
    cmd = [sys.executable, "-m", "mjxrsm.train", f"--config=configs/train.py:point_mass,{algo},cpu",
           f"--workdir={workdir}", "--max_chunks=1",
           *(f"--config.{k}={v}" for k, v in args.items())]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "JAX_COMPILATION_CACHE_DIR": ""})
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    if out.returncode == 0:
        assert not errors and (workdir / "checkpoints").is_dir()
    else:
        assert out.returncode in (1, 2) and len(errors) == 1, (out.returncode, out.stderr[-2000:])


def test_option_names_match_their_implementations():
    """choices.py lists the option names without JAX; the modules that implement them agree."""
    from mjxrsm.config import choices
    from mjxrsm.models import diffusion, networks, rsm

    assert set(networks.ACTIVATIONS) == set(choices.ACTIVATIONS)
    assert (diffusion.SCHEDULES, diffusion.SAMPLERS, rsm.Q_NORMS) == (
        choices.SCHEDULES, choices.SAMPLERS, choices.Q_NORMS)


def test_configs_recorded_before_a_key_existed_still_match() -> None:
    """A run saved before `mesh.devices` / `algo.critic_hidden` existed resumes as the same run
    (those keys' absence meant one device and a critic as wide as the policy); a real change to
    such a key is still caught."""
    from mjxrsm.rundir.workdir import config_changes

    new = {"mesh": {"devices": 1}, "algo": {"critic_hidden": [], "lr": 3e-4}, "wandb": False}
    old = {"algo": {"lr": 3e-4}}
    assert config_changes(old, new) == ([], [])
    safe, unsafe = config_changes(old, {**new, "algo": {"critic_hidden": [256], "lr": 3e-4}})
    assert unsafe == ["algo.critic_hidden: [] -> [256]"] and not safe
    # Another device count is the same algorithm (the checkpointer refuses it while the
    # checkpoint holds the per-device replay rings).
    assert config_changes(old, {**new, "mesh": {"devices": 2}}) == (["mesh.devices: 1 -> 2"], [])
