"""The algorithm registry and the config built from it: every registered algorithm trains a chunk,
resumes exactly and is offered by the CLI; presets are data; env.kwargs reach the task and are
checked against its constructor."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from configs.train import PRESETS, get_config, usage
from mjxrsm.config.algorithms import algorithm_names, algorithms, get_algorithm
from mjxrsm.config.check import ConfigError, advisories, temperature_pace, validate
from mjxrsm.core.trainer import make_trainer
from mjxrsm.envs import check_env_kwargs, make_env
from mjxrsm.envs.options import constructor_options, env_kwargs
from mjxrsm.rundir.checkpoint import Checkpointer

ALGOS = algorithm_names()
# Shrinks applied to whichever of these keys an algorithm has (no per-algorithm branches).
TINY_ALGO = {"hidden": (16, 16), "batch_size": 16, "num_particles": 2, "diffusion_steps": 3,
             "num_candidates": 4}


def tiny_config(algo: str, env: str = "point_mass"):
    c = get_config(f"{env},{algo},cpu")
    c.num_envs, c.log_every, c.start_steps, c.replay_capacity = 4, 16, 32, 256
    c.utd_ratio, c.eval_episodes, c.tensorboard = 0.5, 2, False
    c.env.episode_length = 20
    for k, v in TINY_ALGO.items():
        if k in c.algo:
            c.algo[k] = v
    return c


def test_registry_finds_the_algorithms_and_the_cli_offers_them():
    assert {"dpmd", "sdac", "sac"} <= set(ALGOS)
    for name in ALGOS:
        alg = get_algorithm(name)
        assert alg.default_config().name == name
        assert callable(alg.agent_module.make_agent)
        assert name in usage()
    with pytest.raises(ValueError) as e:
        get_config("point_mass,no_such_algo")
    assert all(name in str(e.value) for name in ALGOS)
    with pytest.raises(ValueError, match="Did you mean 'dpmd'"):
        get_algorithm("dpmdd")


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("algo", ALGOS)
def test_every_preset_applies_to_every_algorithm(algo, preset):
    c = get_config(f"inverted_pendulum,{algo},{preset}")
    assert c.preset == preset and c.algo.name == algo
    own, own_run = algorithms()[algo].preset(preset), algorithms()[algo].run_preset(preset)

    def at(key):
        node = c
        for part in key.split("."):
            node = node[part]
        return node

    for key, value in PRESETS[preset].items():
        if key in own_run or (key.startswith("algo.") and key[len("algo."):] in own):
            continue  # the algorithm's own value wins (e.g. SAC's 2x256 nets and 1 env in `cpu`)
        assert at(key) == value, key
    for key, value in own_run.items():
        assert at(key) == value, key
    for key, value in own.items():
        assert c.algo[key] == value, key
    validate(c)


@pytest.mark.parametrize("algo", ALGOS)
def test_the_parallel_preset_anneals_alpha_as_fast_per_env_step_as_the_cpu_preset(algo):
    """alpha's pace per env step (Adam moves log alpha ~lr per step) is lr * UTD / every; stepped
    per update, UTD 1/64 annealed it 64x slower and SAC did not learn (docs/experiments/)."""

    def pace(preset: str) -> float:
        c = get_config(f"HalfCheetah-v5,{algo},{preset}")
        return c.algo.alpha_lr * c.utd_ratio / c.algo.get("alpha_update_every", 1)

    assert pace("parallel") == pytest.approx(pace("cpu"), rel=1e-9)


@pytest.mark.parametrize("algo", ALGOS)
def test_a_utd_override_that_re_paces_alpha_is_pointed_out_with_the_rate_that_keeps_it(algo):
    """A --config.utd_ratio override keeps the preset's per-update alpha rate, so it silently
    changes alpha's pace per env step; the CLI says so and names the rate that keeps the pace."""
    c = get_config(f"HalfCheetah-v5,{algo},parallel")
    assert advisories(c) == []
    pace = temperature_pace(c)
    c.utd_ratio = 4 * c.utd_ratio
    notes = advisories(c)
    if pace is None:  # no learned temperature (QSM): nothing to re-pace
        assert notes == []
        return
    assert len(notes) == 1 and "4x as fast per env step" in notes[0]
    c.algo.alpha_lr = float(notes[0].rsplit("--config.algo.alpha_lr=", 1)[1])
    assert temperature_pace(c) == pytest.approx(pace, rel=1e-3)
    assert advisories(c) == []  # a rate given explicitly is taken as meant


@pytest.mark.parametrize("algo", ALGOS)
def test_every_algorithm_trains_a_chunk_and_resumes_exactly(algo, tmp_path):
    tr = make_trainer(tiny_config(algo))
    s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))
    s, m1 = tr.train_chunk(s)
    assert all(np.isfinite(float(v)) for v in m1.values())
    assert int(s.updates) == 8
    ckpt = Checkpointer(tmp_path / "ckpt", keep=1, include_buffer=True)
    ckpt.save(16, s, {"env_steps": 16})
    ckpt.close()
    straight, m_straight = tr.train_chunk(s)
    template = tr.init(jax.random.PRNGKey(1))
    restored, _ = Checkpointer(tmp_path / "ckpt", keep=1, include_buffer=True).restore(template)
    resumed, m_resumed = tr.train_chunk(restored)
    for k in m_straight:
        np.testing.assert_array_equal(m_straight[k], m_resumed[k], err_msg=k)
    for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    ev = tr.evaluate(resumed, jax.random.PRNGKey(2))
    assert np.isfinite(float(ev["eval/return_mean"]))


def test_env_kwargs_reach_the_task_and_are_checked():
    c = tiny_config("sac")
    c.env.kwargs.ctrl_cost = 0.5
    validate(c)
    assert env_kwargs(c) == {"impl": "auto", "nthread": 0, "ctrl_cost": 0.5}
    assert make_env(c.env.name, **env_kwargs(c)).ctrl_cost == 0.5
    c.env.kwargs.ctrl_costt = 0.5
    with pytest.raises(ConfigError, match="did you mean 'ctrl_cost'"):
        validate(c)


def test_gymnasium_options_follow_the_constructor_chain():
    from mjxrsm.envs.gymnasium_mjx import task_class

    options = constructor_options(task_class("HalfCheetah-v5"))
    for k in ("ctrl_cost_weight", "reset_noise_scale",
              "exclude_current_positions_from_observation", "max_episode_steps"):
        assert k in options
    assert options["ctrl_cost_weight"] == 0.1
    check_env_kwargs("Hopper-v5", {"ctrl_cost_weight": 0.2, "healthy_z_range": (0.5, 2.0)})
    with pytest.raises(ValueError, match="reset_noise_scale"):
        check_env_kwargs("Hopper-v5", {"reset_noise": 0.1})


def test_misspelt_config_key_is_rejected():
    c = tiny_config("dpmd")
    c.algo.no_such_key = 1  # what the CLI lets through (it must accept env.kwargs.*)
    with pytest.raises(ConfigError, match="algo.no_such_key"):
        validate(c)


def test_an_algorithm_run_preset_sets_run_keys_and_a_misspelt_one_fails(monkeypatch):
    """SAC's own num_envs on a CPU is data in its config file; a key the training config lacks
    (a typo in a RUN_PRESETS table) fails loudly instead of being ignored."""
    sac_envs = algorithms()["sac"].run_preset("cpu")["num_envs"]
    assert get_config("hopper,sac,cpu").num_envs == sac_envs
    assert get_config("hopper,dpmd,cpu").num_envs == PRESETS["cpu"]["num_envs"]
    module = algorithms()["sac"].config_module
    monkeypatch.setattr(module, "RUN_PRESETS", {"cpu": {"num_env": 1}})
    with pytest.raises(KeyError, match="sac run preset 'cpu'.*num_env"):
        get_config("hopper,sac,cpu")


def test_an_algorithm_preset_value_stays_with_its_algorithm():
    """DPMD's doubled exploration noise and faster critic in `cpu` and `parallel` are DPMD's
    alone: SDAC shares the diffusion presets and has one half-length Hopper seed with them (not
    a preset change yet), and the `paper` preset keeps the official values (0.1, 3e-4)."""
    from configs.algos.common import diffusion_actor_critic

    official = diffusion_actor_critic()
    for spec in ("hopper,dpmd,cpu", "hopper,dpmd,parallel"):
        assert get_config(spec).algo.noise_scale == 2 * official.noise_scale, spec
        assert get_config(spec).algo.critic_lr == 1e-3 != official.critic_lr, spec
    assert get_config("hopper,dpmd,parallel").algo.critic_hidden == ()  # the official 3x256
    sac_cpu, sac_parallel = (get_config(f"hopper,sac,{p}").algo for p in ("cpu", "parallel"))
    assert (sac_parallel.activation, sac_parallel.critic_lr) == ("relu", 1e-3) == (
        sac_cpu.activation, sac_cpu.critic_lr)
    assert sac_parallel.hidden == (256, 256, 256) != sac_cpu.hidden
    for spec in ("hopper,sdac,cpu", "hopper,sdac,parallel", "hopper,dpmd,paper"):
        c = get_config(spec).algo
        assert (c.noise_scale, c.critic_lr) == (official.noise_scale, official.critic_lr), spec
