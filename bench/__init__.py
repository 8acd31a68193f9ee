"""Benchmarks: `bench.throughput` (steady-state speed vs the physics limit, Brax SAC and the
official implementation) and `bench.learning` (return vs env steps over seeds).
Results land in `bench/results/`; see bench/README.md."""
