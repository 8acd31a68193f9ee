"""The one override parser (mjxrsm/config/overrides.py): values read against the field they
replace, fractions, tuples, bools, strings, keys a config lacks, one-line errors that name the key,
and the same config from the training CLI's --config.<key>=<value> and the benchmarks' --set."""

from __future__ import annotations

import math

import pytest

from configs.train import get_config
from mjxrsm.cli import input as cli_input
from mjxrsm.config.overrides import (
    MISSING,
    OverrideError,
    UnknownKeyError,
    apply_overrides,
    get_key,
    has_key,
    parse_assignments,
    parse_sweeps,
    parse_value,
    set_key,
)
from mjxrsm.config.ranges import flat_items
from mjxrsm.train import define_flags

SPEC = "point_mass,{algo},cpu"


def _cli(tmp_path, algo: str, *overrides: str):
    argv = ["train", f"--config=configs/train.py:{SPEC.format(algo=algo)}",
            f"--workdir={tmp_path / 'never'}", *overrides]
    return cli_input.parse(define_flags(argv), argv).config


def _bench(algo: str, *items: str, grid: tuple[str, ...] = ()):
    configs = [get_config(SPEC.format(algo=a)) for a in (algo, *grid)]
    config = get_config(SPEC.format(algo=algo))
    apply_overrides(config, parse_assignments(items, configs))
    return config


def _typed(config) -> dict:
    return {k: (type(v), v) for k, v in flat_items(config).items()}


# ----------------------------------------------------------------------------- text -> value


@pytest.mark.parametrize(("text", "like", "value"), [
    ("true", False, True), ("False", True, False), ("T", False, True), ("0", True, False),
    ("1_000", 1, 1000), ("0x10", 1, 16), (" 8", 1, 8), ("-3", 1, -3),
    ("1e-4", 0.5, 1e-4), ("3", 0.5, 3.0), ("1/16", 0.5, 0.0625), ("-1 / 4", 0.5, -0.25),
    ("(64,64)", (1,), (64, 64)), ("[64, 64]", (1,), (64, 64)), ("64,64", (1,), (64, 64)),
    ("64", (1,), (64,)), ("()", (1,), ()),
    ("standardize", "x", "standardize"), ("1", "x", "1"), ("", "x", ""),
])
def test_text_is_read_as_the_type_of_the_field_it_replaces(text, like, value):
    parsed = parse_value(text, like)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(("text", "like"), [
    ("maybe", True), ("yes", True), ("1.5", 1), ("8.0", 1), ("1e6", 1), ("32/2", 1),
    ("fast", 0.5), ("1/0", 0.5), ("(16,wide)", (1,)), ("64 64", (1,)), ("3", {"a": 1}),
])
def test_text_that_cannot_be_the_fields_type_is_refused(text, like):
    with pytest.raises(ValueError):
        parse_value(text, like)


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("FALSE", False), ("3", 3), ("1e-4", 1e-4), ("1/128", 0.0078125),
    ("(64,64)", (64, 64)), ("[1, 2]", [1, 2]), ("{'a': 1}", {"a": 1}), ("mish", "mish"),
])
def test_a_key_with_no_field_is_read_as_a_literal(text, value):
    assert parse_value(text) == value and parse_value(text, MISSING) == value


def test_nan_is_a_float_left_for_the_range_check():
    assert math.isnan(parse_value("nan", 0.5))


# ----------------------------------------------------------------------------- dotted keys


def test_dotted_keys_are_found_read_and_set_with_the_fields_type():
    c = get_config(SPEC.format(algo="dpmd"))
    assert has_key(c, "algo.lr") and has_key(c, "env.kwargs") and not has_key(c, "algo.lrr")
    assert not has_key(c, "seed.x") and get_key(c, "seed.x", None) is None
    with pytest.raises(KeyError):
        get_key(c, "optim.lr")
    assert set_key(c, "algo.hidden", [32, 32]) == (32, 32) and c.algo.hidden == (32, 32)
    assert set_key(c, "utd_ratio", 2) == 2.0 and isinstance(c.utd_ratio, float)
    with pytest.raises(UnknownKeyError):
        set_key(c, "algo.lrr", 1.0)
    set_key(c, "env.kwargs.box", 3.0, new_ok=True)
    with pytest.raises(UnknownKeyError):  # new keys, never new sections
        set_key(c, "optim.lr", 1.0, new_ok=True)
    set_key(c, "env.kwargs", {"dt": 0.01})  # a section's dict sets its items
    assert dict(c.env.kwargs) == {"box": 3.0, "dt": 0.01}


def test_keys_an_algorithm_lacks_are_skipped_unless_strict():
    sac = get_config(SPEC.format(algo="sac"))
    applied = apply_overrides(sac, {"algo.num_particles": 8, "algo.lr": 1e-4})
    assert applied == {"algo.lr": 1e-4} and "num_particles" not in sac.algo
    with pytest.raises(UnknownKeyError, match="algo.num_particles"):
        apply_overrides(sac, {"algo.num_particles": 8}, strict=True)


# ----------------------------------------------------------------------------- --set


def test_set_values_are_read_against_the_grid_and_unknown_keys_kept_for_its_check():
    grid = [get_config(SPEC.format(algo=a)) for a in ("sac", "dpmd")]
    got = parse_assignments(["utd_ratio=1", "algo.hidden=(64,64)", "tensorboard=false",
                             "algo.q_norm=standardize", "algo.num_particles=8",
                             "algo.bogus=1/16"], grid)
    assert got == {"utd_ratio": 1.0, "algo.hidden": (64, 64), "tensorboard": False,
                   "algo.q_norm": "standardize", "algo.num_particles": 8, "algo.bogus": 0.0625}
    assert isinstance(got["utd_ratio"], float)  # SAC's field, read by the grid's first config
    assert parse_assignments(["algo.lr=1e-4"]) == {"algo.lr": 1e-4}  # no config: a literal


def test_sweep_values_keep_commas_inside_brackets():
    grid = [get_config(SPEC.format(algo="dpmd"))]
    assert parse_sweeps(["algo.hidden=(64,64),(256,256)", "algo.num_particles=8,16",
                         "utd_ratio=1/16,1/4"], grid) == {
        "algo.hidden": [(64, 64), (256, 256)], "algo.num_particles": [8, 16],
        "utd_ratio": [0.0625, 0.25]}


@pytest.mark.parametrize(("items", "words"), [
    (["algo.lr=fast"], ["--set algo.lr='fast' is not valid", "(0, 1]", "default 0.0003"]),
    (["num_envs=1.5"], ["num_envs", "1.5", "integer"]),
    (["tensorboard=maybe"], ["tensorboard", "maybe", "True or False"]),
    (["algo.hidden=(16,wide)"], ["algo.hidden", "layer widths"]),
    (["algo.lr"], ["--set", "KEY=VALUE", "algo.lr"]),
    (["algo['lr']=3"], ["--set", "algo['lr']", "dotted"]),
])
def test_a_bad_set_value_is_one_line_naming_the_key(items, words):
    with pytest.raises(OverrideError) as e:
        parse_assignments(items, [get_config(SPEC.format(algo="sac"))])
    assert "\n" not in str(e.value)
    for word in words:
        assert word in str(e.value), (word, str(e.value))


# ----------------------------------------------------------------------------- CLI and bench


@pytest.mark.parametrize(("algo", "items"), [
    ("sac", ["algo.lr=1e-4", "utd_ratio=1/16", "num_envs=32", "algo.hidden=(64,64)",
             "tensorboard=false", "algo.activation=relu", "utd_ratio=0.5"]),
    ("dpmd", ["algo.q_norm=standardize", "algo.num_particles=8", "algo.hidden=[32, 32]",
              "normalize_obs=True", "algo.gamma=0.98", "mesh.devices=1"]),
])
def test_cli_and_bench_give_the_same_config(tmp_path, algo, items):
    cli = _cli(tmp_path, algo, *(f"--config.{item}" for item in items))
    bench = _bench(algo, *items, grid=("sac", "dpmd"))
    assert _typed(cli) == _typed(bench)
    assert _typed(cli) != _typed(get_config(SPEC.format(algo=algo)))


def test_cli_keeps_the_flag_forms_config_flags_took(tmp_path):
    c = _cli(tmp_path, "dpmd", "--config.normalize_obs", "--noconfig.checkpoint_buffer",
             "--config.seed", "3", "--config.algo.hidden=64", "--config.algo.hidden=32",
             "--config.num_envs=8", "--config.num_envs=32")
    assert c.normalize_obs is True and c.checkpoint_buffer is False and c.seed == 3
    assert c.algo.hidden == (64, 32)  # a repeated tuple flag collects its values
    assert c.num_envs == 32  # otherwise the last one wins
    task = _cli(tmp_path, "sac", "--config.env.kwargs.box=1/2")  # a task option: no field
    assert task.env.kwargs.box == 0.5


@pytest.mark.parametrize(("overrides", "words"), [
    (["--config.algo.lr=fast"], ["--config.algo.lr='fast' is not valid", "(0, 1]"]),
    (["--config.optim.lr=0.1"], ["optim.lr is not a config key", "did you mean algo.lr"]),
    (["--config.seed.x=1"], ["seed.x is not a config key"]),
    (["--config.seed"], ["--config.seed", "value"]),
    (["--config.tensorboard", "false"], ["'false'", "--config.tensorboard=false"]),
    (["--noconfig.seed"], ["--noconfig.seed", "value"]),
    (["--config.env={'name': 'hopper'}"], ["env.name cannot be overridden", "ENV"]),
    (["--config.algo[0]=1"], ["not a dotted config key"]),
])
def test_cli_refuses_a_bad_override_with_one_line(tmp_path, overrides, words):
    with pytest.raises(cli_input.UsageError) as e:
        _cli(tmp_path, "sac", *overrides)
    message = str(e.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
