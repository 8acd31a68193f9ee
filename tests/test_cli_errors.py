"""Bad input through the real CLI, in subprocesses: every case exits 2 with exactly one stderr line
that starts with `error:` and names the setting, no traceback, and nothing written (no run
directory, no compilation cache; an existing run stays byte-for-byte the same).

The refusals happen before JAX is imported, so a case costs about a second; the cases run
concurrently (a module fixture) and each is then asserted as its own test.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from configs.train import get_config
from mjxrsm.rundir.workdir import write_config

ROOT = Path(__file__).resolve().parents[1]
SPEC = "--config=configs/train.py:point_mass,sac,cpu"
NEW = "{tmp}/new"  # a workdir that must not appear
RUN = "{tmp}/run"  # an existing run (config.json of SPEC, a checkpoint step directory)

# (id, argv after `python -m mjxrsm.train`, words the error line must contain)
CASES: list[tuple[str, list[str], list[str]]] = [
    # --config=...:ENV,ALGO[,PRESET]
    ("unknown-algo", ["--config=configs/train.py:point_mass,dpmdd", f"--workdir={NEW}"],
     ["dpmdd", "dpmd"]),
    ("unknown-env", ["--config=configs/train.py:pointmas,sac", f"--workdir={NEW}"],
     ["pointmas", "point_mass"]),
    ("unknown-preset", ["--config=configs/train.py:point_mass,sac,turbo", f"--workdir={NEW}"],
     ["turbo", "paper"]),
    ("one-part", ["--config=configs/train.py:point_mass", f"--workdir={NEW}"],
     ["point_mass", "ENV,ALGO[,PRESET]"]),
    ("four-parts", ["--config=configs/train.py:point_mass,sac,cpu,x", f"--workdir={NEW}"],
     ["4 parts", "ENV,ALGO[,PRESET]"]),
    ("empty-part", ["--config=configs/train.py:point_mass,,cpu", f"--workdir={NEW}"],
     ["empty part"]),
    ("empty-arg", ["--config=configs/train.py:", f"--workdir={NEW}"], ["is empty"]),
    ("missing-file", ["--config=configs/nope.py:point_mass,sac", f"--workdir={NEW}"],
     ["configs/nope.py", "no such config file"]),
    ("not-a-train-config", ["--config=configs/algos/sac.py", f"--workdir={NEW}"],
     ["configs/algos/sac.py", "not a training config"]),
    ("no-config", [f"--workdir={NEW}"], ["--config is required"]),
    # --config.<key>=<value>: unknown keys, at any depth, with the closest valid key
    ("unknown-algo-key", [SPEC, "--config.algo.lrr=1", f"--workdir={NEW}"],
     ["algo.lrr", "did you mean algo.lr"]),
    ("key-in-wrong-section", [SPEC, "--config.lr=0.1", f"--workdir={NEW}"],
     ["lr is not a config key", "algo.lr"]),
    ("unknown-section", [SPEC, "--config.optim.lr=0.1", f"--workdir={NEW}"],
     ["optim.lr", "not a config key"]),
    ("unknown-top-key", [SPEC, "--config.num_env=8", f"--workdir={NEW}"],
     ["num_env", "did you mean num_envs"]),
    ("unknown-task-option", [SPEC, "--config.env.kwargs.boxx=3", f"--workdir={NEW}"],
     ["boxx", "box"]),
    ("name-override", [SPEC, "--config.algo.name=dpmd", f"--workdir={NEW}"],
     ["algo.name", "ALGO"]),
    # wrong types
    ("float-not-number", [SPEC, "--config.algo.lr=fast", f"--workdir={NEW}"],
     ["algo.lr", "fast", "(0, 1]"]),
    ("int-given-float", [SPEC, "--config.num_envs=1.5", f"--workdir={NEW}"],
     ["num_envs", "1.5", "integer"]),
    ("bool-not-bool", [SPEC, "--config.tensorboard=maybe", f"--workdir={NEW}"],
     ["tensorboard", "maybe", "True or False"]),
    ("widths-not-ints", [SPEC, "--config.algo.hidden=(16,wide)", f"--workdir={NEW}"],
     ["algo.hidden", "layer widths"]),
    ("choice-unknown", [SPEC, "--config.algo.activation=swish", f"--workdir={NEW}"],
     ["algo.activation", "swish", "mish"]),
    ("missing-value", [SPEC, f"--workdir={NEW}", "--config.seed"], ["--config.seed"]),
    # out of range (discount, Polyak, learning rates, counts, sizes, widths, schedules, ratios)
    ("gamma-1", [SPEC, "--config.algo.gamma=1.0", f"--workdir={NEW}"], ["algo.gamma", "[0, 1)"]),
    ("tau-0", [SPEC, "--config.algo.tau=0", f"--workdir={NEW}"], ["algo.tau", "(0, 1]"]),
    ("lr-negative", [SPEC, "--config.algo.critic_lr=-1e-3", f"--workdir={NEW}"],
     ["algo.critic_lr", "-0.001"]),
    ("lr-nan", [SPEC, "--config.algo.lr=nan", f"--workdir={NEW}"], ["algo.lr", "nan"]),
    ("num-envs-0", [SPEC, "--config.num_envs=0", f"--workdir={NEW}"], ["num_envs=0", "[1,"]),
    ("batch-0", [SPEC, "--config.algo.batch_size=0", f"--workdir={NEW}"], ["algo.batch_size"]),
    ("width-0", [SPEC, "--config.algo.hidden=(0,16)", f"--workdir={NEW}"], ["algo.hidden"]),
    ("seed-negative", [SPEC, "--config.seed=-1", f"--workdir={NEW}"], ["seed=-1"]),
    ("keep-1", [SPEC, "--config.keep_checkpoints=1", f"--workdir={NEW}"],
     ["keep_checkpoints", "[2,"]),
    ("utd-not-integral", [SPEC, "--config.utd_ratio=0.3", f"--workdir={NEW}"],
     ["utd_ratio", "integer"]),
    ("warmup-below-batch", [SPEC, "--config.start_steps=10", f"--workdir={NEW}"],
     ["start_steps=10", "algo.batch_size"]),
    ("int32-overflow", [SPEC, "--config.total_env_steps=2000000000",
                        "--config.start_steps=150000000", "--config.replay_capacity=200000000",
                        f"--workdir={NEW}"], ["total_env_steps", "int32"]),
    # --workdir
    ("workdir-is-file", [SPEC, "--workdir={tmp}/a_file"], ["a_file", "not a directory"]),
    ("workdir-under-file", [SPEC, "--workdir={tmp}/a_file/run"], ["a_file", "cannot be created"]),
    ("workdir-not-writable", [SPEC, "--workdir=/proc/1/run"], ["/proc/1", "not writable"]),
    ("workdir-empty", [SPEC, "--workdir="], ["--workdir is empty"]),
    ("existing-run", [SPEC, f"--workdir={RUN}"], ["already holds a run", "--resume"]),
    ("resume-no-run", [SPEC, f"--workdir={NEW}", "--resume"], ["--resume", "no run"]),
    ("resume-changed-config", [SPEC, f"--workdir={RUN}", "--resume", "--config.algo.lr=0.001"],
     ["algo.lr", "0.0003 -> 0.001", "--allow_config_change"]),
    # other flags
    ("unknown-flag", [SPEC, f"--workdir={NEW}", "--resum"], ["--resum", "--resume"]),
    ("stray-argument", [SPEC, f"--workdir={NEW}", "now"], ["'now'"]),
    ("max-chunks-0", [SPEC, f"--workdir={NEW}", "--max_chunks=0"], ["max_chunks"]),
]

# `make train` passes ENV, ALGO and PRESET into --config (make adds its own "*** Error 2" line).
MAKE_CASES: list[tuple[str, list[str], list[str]]] = [
    ("make-env", ["ENV=nope", "ALGO=sac", "PRESET=cpu"], ["nope"]),
    ("make-algo", ["ENV=point_mass", "ALGO=", "PRESET=cpu"], ["empty part"]),
    ("make-preset", ["ENV=point_mass", "ALGO=sac", "PRESET=fast"], ["fast", "parallel"]),
]

# The bench CLIs' arguments (python -m bench.<name> ...).
BENCH_CASES: list[tuple[str, list[str], list[str]]] = [
    ("bench-jobs-0", ["bench.learning", "--jobs=0"], ["--jobs", ">= 1"]),
    ("bench-unknown-algo", ["bench.learning", "--algos=dpmdd"], ["--algos", "dpmdd"]),
    ("bench-unknown-env", ["bench.learning", "--envs=hoper"], ["--envs", "hoper", "hopper"]),
    ("bench-set-no-value", ["bench.learning", "--set=algo.lr"], ["KEY=VALUE", "algo.lr"]),
    ("bench-set-out-of-range", ["bench.learning", "--quick", "--set=algo.gamma=2.0"],
     ["algo.gamma", "[0, 1)"]),
    ("bench-unknown-flag", ["bench.learning", "--bogus"], ["--bogus"]),
    ("bench-until-not-a-time", ["bench.learning", "--until=25:00"], ["--until", "25:00", "HH:MM"]),
    ("bench-fork-from-a-run", ["bench.learning", "--quick", "--fork-from=runs"],
     ["--fork-from", "RUN/checkpoints/STEP"]),
    ("bench-num-envs", ["bench.throughput", "--num-envs=4,x"], ["--num-envs", "4,x"]),
    ("bench-timeout", ["bench.throughput", "--timeout=-1"], ["--timeout", "> 0"]),
    ("bench-budget", ["bench.gpu", "--budget-s=soon"], ["--budget-s", "soon"]),
    ("bench-budget-negative", ["bench.gpu", "--budget-s=-1"], ["--budget-s", ">= 0"]),
]


def _tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(path.rglob("*"))}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Run every case at once (they wait on the CPU, not on each other)."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "a_file").write_text("not a directory")
    run = tmp / "run"
    (run / "checkpoints" / "16").mkdir(parents=True)
    write_config(run, get_config("point_mass,sac,cpu"))
    before = _tree_digest(run)
    cache = tmp / "jax-cache"
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache)}

    def cli(case):
        _, argv, _ = case
        cmd = [sys.executable, "-m", "mjxrsm.train", *(a.format(tmp=tmp) for a in argv)]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)

    def make(case):
        _, variables, _ = case
        cmd = ["make", "--no-print-directory", "train", f"PY={sys.executable}",
               f"WORKDIR={tmp / 'make-run'}", *variables]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)

    def bench(case):
        _, argv, _ = case
        cmd = [sys.executable, "-m", *argv, f"--out={tmp / 'bench-out'}"]
        if argv[0] == "bench.learning":
            cmd.append(f"--runs={tmp / 'bench-runs'}")
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)

    with ThreadPoolExecutor(8) as pool:
        results = dict(zip([c[0] for c in CASES], pool.map(cli, CASES), strict=True))
        results |= dict(zip([c[0] for c in BENCH_CASES], pool.map(bench, BENCH_CASES),
                            strict=True))
        results |= dict(zip([c[0] for c in MAKE_CASES], pool.map(make, MAKE_CASES), strict=True))
    written = sorted(p.name for p in tmp.iterdir()) != ["a_file", "run"]
    return results, written, before == _tree_digest(run), cache.exists()


def _check(out: subprocess.CompletedProcess, words: list[str], only_line: bool) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr + out.stdout
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, lines
    if only_line:
        assert lines == errors, lines
    for word in words:
        assert word in errors[0], (word, errors[0])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_one_line(outcomes, case):
    results, _, _, _ = outcomes
    _check(results[case[0]], case[2], only_line=True)


@pytest.mark.parametrize("case", BENCH_CASES, ids=[c[0] for c in BENCH_CASES])
def test_bad_bench_arguments_are_refused_with_one_line(outcomes, case):
    results, _, _, _ = outcomes
    _check(results[case[0]], case[2], only_line=True)


@pytest.mark.parametrize("case", MAKE_CASES, ids=[c[0] for c in MAKE_CASES])
def test_bad_make_variables_are_refused_with_one_line(outcomes, case):
    results, _, _, _ = outcomes
    _check(results[case[0]], case[2], only_line=False)


def test_refusals_write_nothing(outcomes):
    _, written, run_unchanged, cache_created = outcomes
    assert not written, "a refused command created a file or directory"
    assert run_unchanged, "a refused command changed the existing run directory"
    assert not cache_created, "a refused command wrote the compilation cache"


def test_input_is_checked_without_importing_jax(tmp_path):
    """Refusing (and accepting) input imports no JAX: the answer comes in a second."""
    code = (
        "import sys\n"
        "from mjxrsm.cli import input as cli_input\n"
        "from mjxrsm.train import define_flags\n"
        "for extra in (['--config.algo.gamma=2'], []):\n"
        f"    argv = ['train', '{SPEC}', '--workdir={tmp_path / 'run'}', *extra]\n"
        "    try:\n"
        "        cli_input.parse(define_flags(argv), argv)\n"
        "    except cli_input.UsageError:\n"
        "        assert extra\n"
        "assert 'jax' not in sys.modules, 'input checks imported JAX'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
