"""Every learning run side by side: one table per env, one row per variant (algorithm + the
settings it ran with beyond its bench preset), across results directories and stopped runs.

    python -m bench.compare                # every learning-* in bench/results/{learning,archive}
    python -m bench.compare bench/results/learning/learning-locomotion-cpu \
        bench/results/learning/learning-sac-alpha
    python -m bench.compare --envs Hopper-v5 --out /tmp/variants

Why: each `bench.learning --out` directory tabulates its own cells, so an ablation (q_norm,
critic width, temperature) lives in a directory of its own and its effect could only be read by
setting tables side by side by hand. Here the runs of every directory are regrouped by what they
actually ran (`bench.learning.beyond_preset`, so two directories running the same settings pool
their seeds), and runs stopped before their budget (`stopped.json`, see docs/experiments/) are
listed with what they reached, so that every run is reported in one place; while some are short
of their budget, every seed that reached a fixed budget is pooled there (`reached_budgets`).
Writes `<out>/learning-variants.md` and `.json`; reads only.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from bench.cli import ArgumentParser, fail
from bench.common import RESULTS, ROOT, fmt, fmt_band, log, md_table, write_json
from bench.learning import (
    FINAL_WINDOW,
    PRESETS,
    PUBLISHED_SAC,
    beyond_preset,
    final_window_mean,
    mean_curve,
    mean_se,
    plot_curves,
    return_at,
    returns_at_budget,
)
from bench.report import algo_color

FRACTIONS = (0.25, 0.5, 1.0)  # budget fractions of the table, as in bench.learning's tables
DEFAULT_PRESET = "locomotion"  # for a directory without learning.json (its cells say the rest)


def _shown(path: Path) -> str:
    """A path as the tables show it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _bench_preset(directory: Path) -> str:
    """The bench.learning preset a results directory was run with (its learning.json)."""
    summary = directory / "learning.json"
    if summary.is_file():
        name = json.loads(summary.read_text()).get("preset")
        if name in PRESETS:
            return name
    return DEFAULT_PRESET


def load_finished(directory: Path) -> list[dict[str, Any]]:
    """The finished runs under `directory` (every `cells/*.json` at any depth), each with the
    settings it ran with beyond its bench preset (`variant`) and where it came from."""
    runs = []
    for path in sorted(directory.rglob("cells/*.json")):
        r = json.loads(path.read_text())
        if not r.get("curve"):
            continue
        bench_preset = _bench_preset(path.parent.parent)
        preset = PRESETS[bench_preset]
        runs.append({"env": r["env"], "algo": r["algo"], "seed": r["seed"],
                     "bench_preset": bench_preset,
                     "budget": r["budget"], "curve": r["curve"],
                     "variant": beyond_preset(r, preset),
                     "trainer_preset": r["config"].get("preset"),
                     "diverged": bool(r["summary"].get("diverged")),
                     "wall_time_s": r["summary"].get("wall_time_s"),
                     "source": _shown(path.parent.parent), "stopped": None})
    return runs


def load_stopped(path: Path) -> list[dict[str, Any]]:
    """The runs of a `stopped.json` (runs stopped before their budget, kept so every run is
    reported) that have a config, in the form of `load_finished`."""
    data = json.loads(path.read_text())
    bench_preset = data.get("bench_preset", DEFAULT_PRESET)
    bench_preset = bench_preset if bench_preset in PRESETS else DEFAULT_PRESET
    preset = PRESETS[bench_preset]
    runs = []
    for key, entry in data.get("runs", {}).items():
        config = entry.get("config")
        if not isinstance(config, dict):  # recorded before entries kept their config
            runs.append({"source": f"{_shown(path)}:{key}", "stopped": entry.get("why_stopped", ""),
                         "unknown_config": True})
            continue
        r = {"env": config["env"]["name"], "algo": config["algo"]["name"],
             "seed": config["seed"], "budget": config["total_env_steps"], "config": config}
        curve = entry.get("curve") or []
        why = entry.get("why_stopped", "")
        runs.append({**{k: r[k] for k in ("env", "algo", "seed", "budget")}, "curve": curve,
                     "bench_preset": bench_preset,
                     "variant": beyond_preset(r, preset), "trainer_preset": config.get("preset"),
                     "diverged": False,
                     "wall_time_s": curve[-1].get("wall_time_s") if curve else None,
                     "source": f"{_shown(path)}:{key}", "stopped": why or "stopped"})
    return runs


# Settings that change when a run logs, evaluates or saves, not what it learns: left out of labels.
NOT_LEARNING = frozenset({"log_every", "eval_every", "checkpoint_every", "checkpoint_buffer"})


def variant_label(variant: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(variant.items())
                     if k not in NOT_LEARNING) or "(preset)"


def split_variant(variant: dict[str, Any]) -> dict[str, str]:
    """A variant's run-level part, its regime (envs, UTD, warm-up, replay: every key outside
    `algo.`; runs of different algorithms in one regime collected and updated alike), and its
    algorithm part (what sets two recipes of one regime apart)."""
    algo = {k: v for k, v in variant.items() if k.startswith("algo.")}
    return {"regime": variant_label({k: v for k, v in variant.items() if k not in algo}),
            "algo_settings": variant_label(algo)}


def _identity(r: dict[str, Any]) -> tuple:
    return r["env"], r["algo"], r["trainer_preset"], variant_label(r["variant"]), r["budget"]


def _evals(r: dict[str, Any]) -> list[tuple[int, float]]:
    return [(int(e["env_steps"]), round(float(e["return_mean"]), 3)) for e in r["curve"]]


def _same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two finished cells are one run reported twice (same seed, same evaluations), not
    two runs that share a seed (a rerun on other code or hardware: both are kept)."""
    return a["seed"] == b["seed"] and _evals(a) == _evals(b)


def _superseded(r: dict[str, Any], runs: list[dict[str, Any]]) -> bool:
    """Whether stopped run `r` is an earlier moment of another record of the same settings and
    seed: its evaluations are the first ones of a longer curve (a run recorded at each stop and
    resumed from its checkpoint, whose log keeps the evaluations before the checkpoint)."""
    mine = _evals(r)
    return any(o is not r and o["seed"] == r["seed"] and _identity(o) == _identity(r)
               and len(o["curve"]) > len(mine) and _evals(o)[:len(mine)] == mine
               for o in runs)


def _finished_groups(runs: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    """The finished runs by `_identity`, each run once (see `group_rows`)."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        if r["stopped"]:
            continue
        key = _identity(r)
        if not any(_same_run(o, r) for o in groups.get(key, [])):
            groups.setdefault(key, []).append(r)
    return groups


def recipe_pairs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two recipes of one algorithm in one regime outside the preset's (env, trainer preset,
    budget and run-level settings alike, algorithm settings different), paired by seed as
    `paired_difference` pairs a variant with its preset: second minus first, the first being the
    recipe with fewer algorithm settings beyond the preset (then alphabetical).
    Why: outside the preset's regime no row is a preset, so a recipe change there (say DPMD's
    noise at 256 envs) had no paired column; the same seed's two runs share their warm-up."""
    by_regime: dict[tuple, list[tuple[dict[str, Any], list[dict[str, Any]]]]] = {}
    for (env, algo, tpreset, _, budget), group in _finished_groups(runs).items():
        parts = split_variant(group[0]["variant"])
        if parts["regime"] == "(preset)":
            continue
        by_regime.setdefault((env, algo, tpreset, budget, parts["regime"]), []).append(
            (parts, [r for r in group if not r["diverged"]]))
    out = []
    for (env, algo, tpreset, budget, regime), recipes in sorted(by_regime.items()):
        recipes.sort(key=lambda pr: (pr[0]["algo_settings"] != "(preset)",
                                     pr[0]["algo_settings"].count(","),
                                     pr[0]["algo_settings"]))
        for i, (first, a) in enumerate(recipes):
            for second, b in recipes[i + 1:]:
                paired = paired_difference(b, a, budget)
                if paired["seeds"]:
                    out.append({"env": env, "algo": algo, "trainer_preset": tpreset,
                                "budget": budget, "regime": regime,
                                "algo_settings": [first["algo_settings"],
                                                  second["algo_settings"]], **paired})
    return out


def group_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (env, algo, trainer preset, variant, budget) over the finished runs (seeds
    pooled across directories; a run found in two directories counts once, while two different
    runs of one seed both count and the row says so), and one row per stopped run, with the
    evaluations it reached."""
    groups = _finished_groups(runs)
    rows = []
    for (env, algo, tpreset, label, budget), group in groups.items():
        ok = [r for r in group if not r["diverged"]]
        row = _row(env, algo, tpreset, label, budget, ok)
        row.update(**split_variant(group[0]["variant"]), seeds=sorted(r["seed"] for r in ok),
                   diverged_seeds=sorted(r["seed"] for r in group if r["diverged"]),
                   sources=sorted({r["source"] for r in group}))
        walls = [r["wall_time_s"] for r in group if r["wall_time_s"]]
        row["mean_wall_time_s"] = sum(walls) / len(walls) if walls else None
        row["curve"] = mean_curve(ok)
        preset = groups.get((env, algo, tpreset, "(preset)", budget))
        if label != "(preset)" and preset:
            row["paired_vs_preset"] = paired_difference(ok, preset, budget)
        rows.append(row)
    for r in runs:
        # A stopped run that was later resumed to its budget is in its group already; one
        # recorded again further on is reported by its latest record.
        if not r["stopped"] or any(o["seed"] == r["seed"] for o in groups.get(_identity(r), [])) \
                or _superseded(r, runs):
            continue
        reached = r["curve"][-1]["env_steps"] if r["curve"] else 0
        row = _row(r["env"], r["algo"], r["trainer_preset"], variant_label(r["variant"]),
                   r["budget"], [r] if r["curve"] else [], reached=reached)
        row.update(**split_variant(r["variant"]), seeds=[r["seed"]], diverged_seeds=[],
                   sources=[r["source"]],
                   mean_wall_time_s=r["wall_time_s"], stopped_at=reached,
                   why_stopped=r["stopped"])
        rows.append(row)
    rows.sort(key=lambda w: (w["env"], w["algo"], w["budget"], "stopped_at" in w,
                             w["variant"] != "(preset)", w["variant"]))
    return rows


def _settled_at(curve: list[dict[str, Any]], step: int) -> bool:
    """Whether a stopped run's return at `step` (its last evaluation at or before it) is final:
    it evaluated at `step` or later, or its next evaluation on its grid would come after it."""
    steps = [int(e["env_steps"]) for e in curve]
    spacing = min((b - a for a, b in zip(steps[:-1], steps[1:], strict=True)
                   if b > a), default=None)
    return steps[-1] >= step or (spacing is not None and steps[-1] + spacing > step)


def reached_budgets(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (env, algo, trainer preset, variant, budget): the return at fixed budgets
    (FRACTIONS and the bench preset's table fractions of the budget), mean and standard error
    over every run that reached that budget, finished or not (a stopped run by its latest
    record; a stopped run whose seed finished counts by the finished run).
    Why: a learning campaign of several sessions (300k-step Humanoid seeds at ~5 h each) has
    runs short of their budget most of the time; the rows above report each of them alone, so
    whether the algorithms are ordered at 100k or 200k could only be read by pooling by hand."""
    groups = _finished_groups(runs)
    pooled: dict[tuple, list[dict[str, Any]]] = {k: list(v) for k, v in groups.items()}
    for r in runs:
        if r["stopped"] and r["curve"] and not _superseded(r, runs) \
                and not any(o["seed"] == r["seed"] for o in groups.get(_identity(r), [])):
            pooled.setdefault(_identity(r), []).append(r)
    out = []
    for (env, algo, tpreset, label, budget), group in sorted(pooled.items()):
        ok = [r for r in group if not r["diverged"]]
        fractions = sorted(set(FRACTIONS).union(
            *(PRESETS[r.get("bench_preset", DEFAULT_PRESET)].table_fractions for r in ok)))
        at = {}
        for frac in fractions:
            b = round(frac * budget)
            mine = [(r["seed"], return_at(r["curve"], b, r["budget"])) for r in ok
                    if not r["stopped"] or _settled_at(r["curve"], b)]
            mine = [(seed, v) for seed, v in mine if v is not None]
            m, se = mean_se([v for _, v in mine]) if mine else (None, None)
            at[f"{frac:g}"] = {"env_steps": b, "mean": m, "se": se, "n": len(mine),
                               "seeds": sorted(seed for seed, _ in mine)}
        out.append({"env": env, "algo": algo, "trainer_preset": tpreset, "variant": label,
                    "budget": budget, **split_variant(group[0]["variant"]),
                    "finished_seeds": sorted(r["seed"] for r in ok if not r["stopped"]),
                    "unfinished": sorted((r["seed"], r["curve"][-1]["env_steps"])
                                         for r in ok if r["stopped"]),
                    "at": at})
    return out


def reached_pairs(reached: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`algorithm_pairs` at each fixed budget of `reached_budgets` (two seeds a side or more at
    that budget), for the cells where some run is short of its budget."""
    rows = [w for w in reached if w["variant"] == "(preset)" or w["regime"] != "(preset)"]
    out = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if (a["env"], a["trainer_preset"], a["budget"], a["regime"]) != (
                    b["env"], b["trainer_preset"], b["budget"], b["regime"]) \
                    or a["algo"] == b["algo"] or not (a["unfinished"] or b["unfinished"]):
                continue
            out.append({"env": a["env"], "trainer_preset": a["trainer_preset"],
                        "budget": a["budget"], "regime": a["regime"],
                        "algos": [a["algo"], b["algo"]],
                        "algo_settings": [a["algo_settings"], b["algo_settings"]],
                        "at": {f: {"env_steps": a["at"][f]["env_steps"],
                                   "seeds": [a["at"][f]["n"], b["at"][f]["n"]],
                                   "welch": welch(a["at"][f], b["at"][f])}
                               for f in a["at"] if f in b["at"]}})
    return out


def paired_difference(runs: list[dict[str, Any]], preset: list[dict[str, Any]],
                      budget: int) -> dict[str, Any]:
    """Variant minus preset on the seeds both ran (once each, neither diverged): mean and
    standard error of the per-seed differences at the budget and over the final window.
    Why: a variant's run and the preset's run of one seed share their initialisation and
    warm-up, and are bit-identical until the variant's setting first acts, so the seed-to-seed
    spread (~300 on HalfCheetah at 100k) partly cancels in the difference; the sessions
    compared variants this way by hand."""
    def once(group: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        seeds = [r["seed"] for r in group]
        return {r["seed"]: r for r in group if seeds.count(r["seed"]) == 1
                and not r.get("diverged")}
    mine, theirs = once(runs), once(preset)
    seeds = sorted(mine.keys() & theirs.keys())
    out: dict[str, Any] = {"seeds": seeds}
    for key, value in (("1", lambda r: return_at(r["curve"], budget, r["budget"])),
                       ("final_window", lambda r: final_window_mean(r["curve"], r["budget"]))):
        pairs = [(value(mine[s]), value(theirs[s])) for s in seeds]
        diffs = [a - b for a, b in pairs if a is not None and b is not None]
        m, se = mean_se(diffs) if diffs else (None, None)
        out[key] = {"mean": m, "se": se, "n": len(diffs)}
    return out


def algorithm_pairs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two algorithms' rows of one env, trainer preset, budget and regime set against each
    other (unpaired: different algorithms share no seed's trajectory): the difference of their
    means, its Welch standard error and t, at the budget and over the final window.
    Which rows: in the preset's own regime, each algorithm's preset row (the other rows there
    are ablations of one algorithm, read against its preset on the same seeds); in any other
    regime (say 256 envs at UTD 1/64) there is no preset row, every row is a recipe, so every
    two rows of different algorithms.
    Why: the claim under test is one algorithm's return against another's (DPMD against SAC);
    with seed spreads this wide the difference is only read with its standard error, and
    `seeds_per_side_for_2se` says how many seeds a side would put the measured difference at
    two standard errors (how far the question is from being settled by more runs)."""
    rows = [w for w in rows if "stopped_at" not in w
            and (w["variant"] == "(preset)" or w["regime"] != "(preset)")]
    out = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if (a["env"], a["trainer_preset"], a["budget"], a["regime"]) != (
                    b["env"], b["trainer_preset"], b["budget"], b["regime"]) \
                    or a["algo"] == b["algo"]:
                continue
            out.append({"env": a["env"], "trainer_preset": a["trainer_preset"],
                        "budget": a["budget"], "regime": a["regime"],
                        "algos": [a["algo"], b["algo"]],
                        "algo_settings": [a["algo_settings"], b["algo_settings"]],
                        "seeds": [len(a["seeds"]), len(b["seeds"])],
                        **{key: welch(a["return_at_budget"][key], b["return_at_budget"][key])
                           for key in ("1", "final_window")}})
    return out


LINESTYLES = ("-", "--", ":", "-.")  # an algorithm's recipes within one regime plot


def regime_plots(rows: list[dict[str, Any]], out: Path) -> dict[tuple, str]:
    """One PNG per regime in which two algorithms ran (`algorithm_pairs`' regimes outside the
    preset's), every recipe of the regime on it: the algorithm's colour, one line style per
    recipe. Why: each `bench.learning --out` directory plots only its own cells, and the
    recipes a regime sets against each other (DPMD and SAC at UTD 1/64) live in directories of
    their own. Returns {(env, trainer preset, budget, regime): file name in `out`}."""
    keys = sorted({(p["env"], p["trainer_preset"], p["budget"], p["regime"])
                   for p in algorithm_pairs(rows) if p["regime"] != "(preset)"})
    names: dict[tuple, str] = {}
    for env, tpreset, budget, regime in keys:
        mine = [w for w in rows if "stopped_at" not in w and w.get("curve")
                and (w["env"], w["trainer_preset"], w["budget"], w["regime"])
                == (env, tpreset, budget, regime)]
        series, per_algo = [], {}
        for w in sorted(mine, key=lambda w: (w["algo"], w["algo_settings"])):
            k = per_algo[w["algo"]] = per_algo.get(w["algo"], -1) + 1
            series.append({"label": f"{w['algo']}: {w['algo_settings']} (n={len(w['seeds'])})",
                           "color": algo_color(w["algo"]), "curve": w["curve"],
                           "linestyle": LINESTYLES[k % len(LINESTYLES)]})
        slug = "_".join(regime.replace(" ", "").replace("=", "").split(","))
        name = f"learning-variants-{env}-{tpreset}-{budget}-{slug}.png"
        plot_curves(series, out / name, env, legend_below=True,
                    subtitle=f"trainer preset {tpreset} with {regime}")
        names[(env, tpreset, budget, regime)] = name
    return names


def welch(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """Mean(a) − mean(b) with its unpaired standard error from two (mean, se, n) summaries;
    None unless both have two seeds or more."""
    if not a or not b or a["mean"] is None or b["mean"] is None or min(a["n"], b["n"]) < 2:
        return None
    diff = a["mean"] - b["mean"]
    se = math.hypot(a["se"], b["se"])
    # Per-seed variances back from the standard errors: n seeds a side give SE² = (sa² + sb²)/n.
    var = a["se"] ** 2 * a["n"] + b["se"] ** 2 * b["n"]
    need = math.ceil(4 * var / diff ** 2) if diff else None
    # The ratio of the means: the paper states its claims as ratios (DPMD > 2.2x SAC).
    ratio = a["mean"] / b["mean"] if b["mean"] > 0 else None
    return {"diff": diff, "se": se, "t": diff / se if se else None, "ratio": ratio,
            "seeds_per_side_for_2se": need}


def _row(env: str, algo: str, tpreset: str | None, label: str, budget: int,
         runs: list[dict[str, Any]], reached: float | None = None) -> dict[str, Any]:
    """Returns at the FRACTIONS of the budget (only those the runs reached) and over the final
    window, mean and standard error over the runs."""
    at = returns_at_budget(runs, budget, FRACTIONS, reached)
    return {"env": env, "algo": algo, "trainer_preset": tpreset, "variant": label,
            "budget": budget, "return_at_budget": at}


def _cell(v: dict[str, Any] | None) -> str:
    if not v or v["mean"] is None:
        return "-"
    if v["n"] < 2:
        return fmt(v["mean"])
    return f"{fmt(v['mean'])} ± {fmt(v['se'])}"


def _signed(x: float) -> str:
    """A difference with its sign always shown (a true minus sign)."""
    return ("+" if x >= 0 else "−") + fmt(abs(x))


def _paired_cell(paired: dict[str, Any] | None) -> str:
    """`+d1 ± se / +d2 ± se (n seeds)`; `-` where no seed was run both ways."""
    if not paired or not paired["seeds"]:
        return "-"
    def signed(v: dict[str, Any]) -> str:
        if v["mean"] is None:
            return "-"
        text = _signed(v["mean"])
        return text if v["n"] < 2 else f"{text} ± {fmt(v['se'])}"
    n = len(paired["seeds"])
    return f"{signed(paired['1'])} / {signed(paired['final_window'])} ({n} seed{'s' * (n > 1)})"


def _welch_cell(w: dict[str, Any] | None) -> str:
    """`+d ± se (t = x; ×r; ~n seeds a side for 2 SE)`; `-` with fewer than two seeds a side."""
    if not w:
        return "-"
    t = "-" if w["t"] is None else f"{w['t']:+.1f}".replace("-", "−")
    ratio = "" if w.get("ratio") is None else f"; ×{w['ratio']:.2f}"
    need = w["seeds_per_side_for_2se"]
    return (f"{_signed(w['diff'])} ± {fmt(w['se'])} (t = {t}{ratio}"
            + (f"; ~{need} seed{'s' * (need > 1)} a side for 2 SE)" if need else ")"))


def _reached_cell(v: dict[str, Any] | None) -> str:
    return "-" if not v or v["mean"] is None else f"{_cell(v)} ({v['n']})"


def _reached_tables(reached: list[dict[str, Any]]) -> list[str]:
    """The markdown of one env's `reached_budgets` and `reached_pairs`, for the cells (trainer
    preset, budget, regime) where a run short of its budget pools with another run of its
    settings (a lone stopped run's row above says all); none otherwise."""
    def cell(w: dict[str, Any]) -> tuple:
        return w["trainer_preset"], w["budget"], w["regime"]
    pooled = [w for w in reached
              if w["unfinished"] and len(w["finished_seeds"]) + len(w["unfinished"]) > 1]
    # Beside the pooled rows, what they are read against: the preset rows of their cell (in a
    # regime beyond the preset's, which has none, the other algorithms' recipes).
    rows = [w for w in reached if w in pooled or any(
        cell(w) == cell(p) and (w["variant"] == "(preset)"
                                or (w["regime"] != "(preset)" and w["algo"] != p["algo"]))
        for p in pooled)]
    if not rows:
        return []
    fracs = sorted({float(f) for w in rows for f in w["at"]})
    keys = [f"{f:g}" for f in fracs]
    budgets = {w["budget"] for w in rows}
    # Env steps as the column names where the rows share one budget, fractions otherwise.
    names = [fmt(round(f * next(iter(budgets)))) if len(budgets) == 1 else f"{100 * f:.3g}%"
             for f in fracs]
    lines = ["Every seed at fixed budgets, runs short of their budget included (a stopped or "
             "still-running run by its latest record): mean ± standard error over the seeds "
             "that reached each budget (their number in brackets); 'short of the budget' gives"
             " each such seed and the env steps it reached.", ""]
    lines.append(md_table(
        ["algo", "trainer preset", "settings beyond it", "finished seeds", "short of the budget",
         "budget", *(f"@{name}" for name in names)],
        [[w["algo"], w["trainer_preset"], w["variant"],
          ", ".join(map(str, w["finished_seeds"])) or "-",
          ", ".join(f"seed {seed} at {fmt(at)}" for seed, at in w["unfinished"]) or "-",
          w["budget"], *(_reached_cell(w["at"].get(k)) for k in keys)] for w in rows]))
    lines.append("")
    pairs = [p for p in reached_pairs(rows)
             if any(v["welch"] for v in p["at"].values())]
    if pairs:
        lines += ["The same, algorithms against each other (unpaired, as above) at each budget "
                  "with two seeds a side or more.", ""]
        lines.append(md_table(
            ["first − second", "regime", "algorithm settings (first / second)", "budget",
             *(f"@{name}" for name in names)],
            [[" − ".join(p["algos"]), p["regime"], " / ".join(p["algo_settings"]), p["budget"],
              *(_welch_cell(p["at"][k]["welch"]) if k in p["at"] else "-" for k in keys)]
             for p in pairs]))
        lines.append("")
    return lines


def markdown(rows: list[dict[str, Any]], sources: list[str],
             unknown: list[dict[str, Any]] = (), plots: dict[tuple, str] | None = None,
             recipes: list[dict[str, Any]] = (), reached: list[dict[str, Any]] = ()) -> str:
    """One table per env; `unknown`: stopped runs recorded without a config, listed after;
    `plots`: `regime_plots`' files, linked under their env's table; `recipes`:
    `recipe_pairs`, tabulated under it; `reached`: `reached_budgets`, tabulated (with its
    `reached_pairs`) under it where some run is short of its budget."""
    lines = ["# Learning runs by variant", "",
             "Every run under the results directories below, grouped by what it ran: algorithm, "
             "trainer preset, and its settings beyond the bench preset (seeds of the same "
             "settings pooled across directories). Evaluation return, mean ± standard error "
             "over seeds (a bare number: one seed), at fractions of the budget of env steps "
             f"after warm-up; 'last {100 * FINAL_WINDOW:g}%' is the mean of each run's "
             "evaluations in the last fifth of its budget. Runs stopped before their budget "
             "have a row of their own with what they reached. 'Minus the preset, same seeds': "
             "the mean ± standard error of the per-seed differences from the preset's run of "
             "the same seed (seeds run both ways only), which cancels part of the seed-to-seed "
             "spread. Written by `python -m bench.compare`.", "",
             "Sources: " + ", ".join(f"`{s}`" for s in sources), ""]
    all_pairs = algorithm_pairs(rows)
    for env in sorted({w["env"] for w in rows}):
        lines += [f"## {env}", ""]
        table = []
        for w in (w for w in rows if w["env"] == env):
            runs = f"{len(w['seeds'])}" + (f" (+{len(w['diverged_seeds'])} diverged)"
                                           if w["diverged_seeds"] else "")
            rerun = sorted({s for s in w["seeds"] if w["seeds"].count(s) > 1})
            if rerun:
                runs += f" (seed {', '.join(map(str, rerun))} run more than once)"
            if "stopped_at" in w:
                runs = f"seed {w['seeds'][0]}, stopped " + (
                    f"at {fmt(w['stopped_at'])}" if w["stopped_at"] else "before its first eval")
            wall = w["mean_wall_time_s"]
            paired = w.get("paired_vs_preset")
            table.append([w["algo"], w["trainer_preset"], w["variant"], runs, w["budget"],
                          *(_cell(w["return_at_budget"][f"{f:g}"]) for f in FRACTIONS),
                          _cell(w["return_at_budget"]["final_window"]),
                          _paired_cell(paired), "-" if wall is None else wall / 60])
        bands = PUBLISHED_SAC.get(env)
        if bands:
            budgets = sorted({w["budget"] for w in rows if w["env"] == env})
            for budget in budgets:
                cells = []
                for f in FRACTIONS:
                    band = bands.get(round(f * budget))
                    cells.append(fmt_band(band))
                if any(c != "-" for c in cells):
                    table.append(["published SAC", "-", "means of 2 data sets, Gym v3/v4",
                                  "10 seeds", budget,
                                  *cells, "-", "-", "-"])
        lines.append(md_table(["algo", "trainer preset", "settings beyond it", "runs", "budget",
                               *(f"@{100 * f:g}%" for f in FRACTIONS),
                               f"last {100 * FINAL_WINDOW:g}%",
                               "minus the preset, same seeds: @100% / last "
                               f"{100 * FINAL_WINDOW:g}%", "min/run"], table))
        lines.append("")
        pairs = [p for p in all_pairs
                 if p["env"] == env and (p["1"] or p["final_window"])]
        if pairs:
            lines += ["Algorithms against each other (unpaired): difference of the means ± its "
                      "standard error, t, the ratio of the means (×), and the seeds a side that"
                      " would put this difference at two standard errors (rows with two seeds "
                      "or more). In the preset's regime each algorithm's preset row; in another"
                      " regime (run-level settings beyond the preset, the same for both) every "
                      "two rows of different algorithms, with their algorithm settings.", ""]
            lines.append(md_table(
                ["first − second", "regime", "algorithm settings (first / second)",
                 "trainer preset", "seeds", "budget", "@100%", f"last {100 * FINAL_WINDOW:g}%"],
                [[" − ".join(p["algos"]), p["regime"], " / ".join(p["algo_settings"]),
                  p["trainer_preset"], " / ".join(map(str, p["seeds"])), p["budget"],
                  _welch_cell(p["1"]), _welch_cell(p["final_window"])] for p in pairs]))
            lines.append("")
        lines += _reached_tables([w for w in reached if w["env"] == env])
        mine = [q for q in recipes if q["env"] == env]
        if mine:
            lines += ["Recipes of one algorithm against each other in a regime outside the "
                      "preset's, paired by seed (second minus first; the seeds both ran): mean "
                      "± standard error of the per-seed differences.", ""]
            lines.append(md_table(
                ["algo", "regime", "first", "second", "trainer preset", "budget",
                 "second − first: @100% / last " f"{100 * FINAL_WINDOW:g}%"],
                [[q["algo"], q["regime"], *q["algo_settings"], q["trainer_preset"],
                  q["budget"], _paired_cell(q)] for q in mine]))
            lines.append("")
        for (penv, tpreset, budget, regime), name in sorted((plots or {}).items()):
            if penv == env:
                lines += [f"![{env}, {tpreset} preset, {fmt(budget)} env steps, {regime}]"
                          f"({name})", ""]
    if unknown:
        lines += ["## Stopped runs recorded without their config", "",
                  "Not in the tables above (their settings are not known here); each says why "
                  "it stopped, and whether it was later resumed:", ""]
        lines += [f"- `{r['source']}`: {' '.join(r['stopped'].split())}" for r in unknown]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="*", type=Path,
                   help="results directories (default: every learning-* under "
                        "bench/results/learning and bench/results/archive)")
    p.add_argument("--envs", help="comma-separated envs to keep (default: all)")
    p.add_argument("--out", type=Path, default=RESULTS / "learning",
                   help="where learning-variants.* go")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    dirs = args.dirs or sorted(d for kind in ("learning", "archive")
                               for d in (RESULTS / kind).glob("learning-*") if d.is_dir())
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        fail(f"not a directory: {', '.join(missing)}")
    runs: list[dict[str, Any]] = []
    for d in dirs:
        runs += load_finished(d)
        for stopped in sorted(d.rglob("stopped.json")):
            runs += load_stopped(stopped)
    unknown = [r for r in runs if r.get("unknown_config")]
    runs = [r for r in runs if not r.get("unknown_config")]
    if args.envs:
        keep = set(args.envs.split(","))
        runs = [r for r in runs if r["env"] in keep]
    if not runs:
        fail(f"no learning runs under {', '.join(map(str, dirs))} (cells/*.json or "
             "stopped.json)" + (f" for envs {args.envs}" if args.envs else ""))
    rows = group_rows(runs)
    recipes = recipe_pairs(runs)
    reached = reached_budgets(runs)
    sources = [_shown(d) for d in dirs]
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "learning-variants.json", {
        "benchmark": "learning-variants", "sources": sources, "rows": rows,
        "algorithm_pairs": algorithm_pairs(rows), "recipe_pairs": recipes,
        "reached_budgets": reached, "reached_pairs": reached_pairs(reached),
        "stopped_without_config": [{k: r[k] for k in ("source", "stopped")} for r in unknown]})
    text = markdown(rows, sources, unknown, regime_plots(rows, args.out), recipes, reached)
    (args.out / "learning-variants.md").write_text(text)
    log(f"{len(runs)} runs in {len(rows)} rows -> {args.out / 'learning-variants.md'}")
    print(text)


if __name__ == "__main__":
    main()
