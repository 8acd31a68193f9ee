"""Reporting of a throughput run: ratios to the yardsticks and to the official implementation,
the Markdown summary and the throughput plot (bench/throughput.py writes them)."""

from __future__ import annotations

from pathlib import Path

from bench.common import fmt, md_table
from bench.measure import OFFICIAL_ENV
from bench.report import algo_color, provenance_line

# The official implementation on a 2-core CPU machine of this kind, at its own settings
# (HalfCheetah, batch 256, 32 particles, 20 diffusion steps, UTD 0.2, 5 CPU envs): updates/s.
OFFICIAL_UPDATES_PER_S = {"dpmd": 1.88, "sdac": 0.75, "sac": 58.8}
REQUIRED_SPEEDUP = {"dpmd": 3.0, "sdac": 10.0}  # at identical math and settings, on that CPU


def add_ratios(results: dict) -> None:
    """Ratios of every grid/sweep cell to the yardsticks at the same (env, num_envs), and of the
    official-settings figures to the official implementation."""
    yard = {(y["kind"], y["env"], y["num_envs"]): y for y in results["yardsticks"]
            if "error" not in y}
    for cell in results["cells"] + results["sweep_cells"]:
        if "error" in cell:
            continue
        phys = yard.get(("physics", cell["env"], cell["num_envs"]))
        brax = yard.get(("brax_sac", cell["env"], cell["num_envs"]))
        cell["ratios"] = {
            "vs_physics_env_steps": phys and cell["env_steps_per_s"]
            / phys["wrapped"]["env_steps_per_s"],
            "vs_brax_sac_env_steps": brax and cell["env_steps_per_s"] / brax["env_steps_per_s"],
            "vs_brax_sac_updates": brax and cell["updates_per_s"] / brax["updates_per_s"],
        }
    for off in results["official"]:
        if "error" in off:
            continue
        ref = OFFICIAL_UPDATES_PER_S[off["algo"]]
        need = REQUIRED_SPEEDUP.get(off["algo"])
        loop = off["loop"]["updates_per_s"] / ref
        alone = off["breakdown"]["update"]["updates_per_s"] / ref
        official = not off.get("applied_overrides")  # --quick shrinks the math: no verdict
        off["ratios"] = {"official_settings": official, "loop_vs_official": loop,
                         "update_alone_vs_official": alone, "required": need,
                         "meets_required_loop": None if need is None or not official
                         else loop >= need}


def markdown(results: dict) -> str:
    dev = (results.get("hardware") or {}).get("device") or {}
    lines = [
        f"# Throughput — {dev.get('device_kind', '?')} — {results.get('date', '')[:10]}",
        "",
        provenance_line(results),
    ]
    if results.get("quick"):
        lines += ["", "**--quick smoke run: tiny settings, not a benchmark.**"]
    if results["official"]:
        lines += ["", f"## Official settings ({OFFICIAL_ENV}, paper preset: 5 envs, batch 256, "
                      "32 particles, 20 steps, UTD 0.2)", "",
                  "Updates/s of the full train loop (5 envs stepped + acted + updated, as the "
                  "official figure) and of `agent.update` alone; ratios to the official "
                  "implementation on a 2-core CPU.", ""]
        rows = []
        for off in results["official"]:
            if "error" in off:
                rows.append([off["algo"], off["error"][:60], "-", "-", "-", "-", "-"])
                continue
            r = off["ratios"]
            need = r["required"]
            if not r["official_settings"]:
                verdict = "n/a: not the official settings"
            elif need is None:
                verdict = "-"
            else:
                verdict = f"{'meets' if r['meets_required_loop'] else 'misses'} {need:g}x"

            rows.append([off["algo"], off["loop"]["updates_per_s"],
                         off["breakdown"]["update"]["updates_per_s"],
                         OFFICIAL_UPDATES_PER_S[off["algo"]], f"{fmt(r['loop_vs_official'])}x",
                         f"{fmt(r['update_alone_vs_official'])}x", verdict])
        lines.append(md_table(["algo", "loop updates/s", "update alone /s", "official /s",
                               "loop ratio", "alone ratio", "target"], rows))
    if results["cells"]:
        lines += ["", f"## Grid ({results['profile']['preset']} preset)", "",
                  "Steady state after compilation. `% physics` = env-steps/s over the physics "
                  "limit (wrapped env, random actions, no learning) at the same env and num_envs; "
                  "`x Brax SAC` = ours over Brax's SAC trainer (same num_envs, batch, updates "
                  "per vector step, widths). Peak host memory is the worker process's max RSS.",
                  ""]
        lines.append(_cells_table(results["cells"]))
    if results["yardsticks"]:
        lines += ["", "## Yardsticks", ""]
        rows = []
        for y in results["yardsticks"]:
            if "error" in y:
                rows.append([y["kind"], y["env"], y["num_envs"], y["error"][:60], "-", "-"])
            elif y["kind"] == "physics":
                raw = y.get("raw", {}).get("env_steps_per_s")
                rows.append(["physics limit", y["env"], y["num_envs"],
                             y["wrapped"]["env_steps_per_s"],
                             "" if raw is None else f"raw env (no wrapper): {fmt(raw)}",
                             y["wrapped"]["compile"]["rollout"]["compile_s"]])
            else:
                rows.append(["brax SAC", y["env"], y["num_envs"], y["env_steps_per_s"],
                             f"{fmt(y['updates_per_s'])} updates/s"
                             + ("" if y["updates_matched"] else " (UTD not matched)"),
                             y["compile_s_est"]])
        lines.append(md_table(["yardstick", "env", "num_envs", "env-steps/s", "other",
                               "compile s"], rows))
    if results["sweep_cells"]:
        lines += ["", "## Knob sweeps (one at a time)", "", _cells_table(results["sweep_cells"])]
    blocks = [(f"official settings, {o['algo']}", o["breakdown"]) for o in results["official"]
              if "breakdown" in o]
    blocks += [(f"{b['env']} {b['preset']} preset, {b['algo']}", b["breakdown"])
               for b in results["breakdowns"] if "breakdown" in b]
    if blocks:
        lines += ["", "## Per-update cost breakdown (ms per call)", "",
                  "Each part jitted and timed alone. `amortised sum` = sampling + critic + "
                  "policy/policy_delay; `update` = the whole `agent.update`. The last column is "
                  "the dense-layer work of the TD target's best-of-N sampling over its time "
                  "(activations not counted): compare it with the device's peak.", ""]
        rows = []
        for name, parts in blocks:
            cells = ", ".join(f"{k} {fmt(p['ms'])}" for k, p in parts.items()
                              if k not in ("update", "amortised_sum", "act"))
            rate = parts.get("td_sampling", {}).get("matmul_gflop_per_s")
            rows.append([name, cells, parts["amortised_sum"]["ms"], parts["update"]["ms"],
                         f"{fmt(parts['act']['ms'])} ({parts['act']['num_envs']} envs)", rate])
        lines.append(md_table(["config", "parts", "amortised sum", "update", "act",
                               "sampling matmul GFLOP/s"], rows))
    lines += ["", f"Total benchmark wall time: {fmt(results.get('elapsed_s', 0) / 60)} min.", ""]
    return "\n".join(lines)


def _cells_table(cells: list[dict]) -> str:
    rows = []
    for c in cells:
        knob = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}"
                         for k, v in c.get("sweep", {}).items())
        knob += " (base)" if c.get("is_base") else ""
        if "error" in c:
            rows.append([c["algo"], c["env"], c["num_envs"], knob, c["error"][:60]] + ["-"] * 6)
            continue
        r = c.get("ratios", {})
        pct = r.get("vs_physics_env_steps")
        rows.append([c["algo"], c["env"], c["num_envs"], knob, c["env_steps_per_s"],
                     c["updates_per_s"], c["compile"]["total_s"],
                     None if pct is None else f"{100 * pct:.2g}%",
                     r.get("vs_brax_sac_env_steps"), c["peak_host_mb"], c["peak_device_mb"]])
    return md_table(["algo", "env", "num_envs", "knob", "env-steps/s", "updates/s", "compile s",
                     "% physics", "x Brax SAC", "host MB", "device MB"], rows)


def plot(results: dict, path: Path) -> None:
    """env-steps/s vs num_envs (log-log), one panel per env, one line per algo, with the physics
    limit and Brax SAC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in results["cells"] if "error" not in c]
    envs = sorted({c["env"] for c in cells})
    if not envs:
        return
    fig, axes = plt.subplots(1, len(envs), figsize=(5 * len(envs), 4), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        for algo in sorted({c["algo"] for c in cells}):
            pts = sorted((c["num_envs"], c["env_steps_per_s"]) for c in cells
                         if c["env"] == env and c["algo"] == algo)
            if pts:
                ax.plot(*zip(*pts, strict=True), "o-", color=algo_color(algo), label=algo)
        for kind, style, label in (("physics", "k--", "physics limit"),
                                   ("brax_sac", "k:", "Brax SAC")):
            pts = sorted(
                (y["num_envs"], y["wrapped"]["env_steps_per_s"] if kind == "physics"
                 else y["env_steps_per_s"])
                for y in results["yardsticks"]
                if y["kind"] == kind and y["env"] == env and "error" not in y)
            if pts:
                ax.plot(*zip(*pts, strict=True), style, marker="s", ms=3, label=label)
        ticks = sorted({c["num_envs"] for c in cells if c["env"] == env})
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(xlabel="num_envs", ylabel="env-steps/s", title=env)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    dev = ((results.get("hardware") or {}).get("device") or {}).get("device_kind", "")
    fig.suptitle(f"Steady-state throughput ({results['profile']['preset']} preset, {dev})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
