"""Reporting shared by the benchmarks (throughput, learning): one colour per algorithm in every
plot, and the provenance line every report opens with."""

from __future__ import annotations

from typing import Any

from mjxrsm.config.algorithms import algorithms


def algo_color(algo: str) -> str:
    """The algorithm's matplotlib colour, the same in every plot: its declared `COLOR`, else one
    from its place in the registry after the declared ones."""
    registry = algorithms()
    if algo not in registry:
        return "k"
    if registry[algo].color:
        return registry[algo].color
    undeclared = [name for name, a in registry.items() if not a.color]
    return f"C{5 + undeclared.index(algo)}"


def provenance_line(results: dict[str, Any]) -> str:
    """Host, usable cores, memory, load, versions and commit of a results dict (see
    bench.common.provenance), as one Markdown sentence."""
    hw = results.get("hardware") or {}
    v = results.get("versions") or {}
    git = results.get("git") or {}
    return (f"Host: {hw.get('cpu_model')} ({hw.get('cpu_usable')} usable cores, "
            f"{hw.get('memory_gb')} GB); load average at start {hw.get('load_avg_1_5_15')}. "
            f"jax {v.get('jax')}, mujoco-mjx {v.get('mujoco-mjx')}, brax {v.get('brax')}; "
            f"commit {str(git.get('commit'))[:10]}{' (dirty)' if git.get('dirty') else ''}.")
