#!/bin/bash
PIDS="$(pgrep -f 'bench.learning --worker' | tr '\n' ' ')"
trap 'kill -CONT $PIDS' EXIT
kill -STOP $PIDS
B="--xla_cpu_enable_concurrency_optimized_scheduler=false"
run() { f="$3"; [ "$f" = "-" ] && f=""; XLA_FLAGS="$B $f" taskset -c $1 /work/main/.venv/bin/python /tmp/flags/measure.py Humanoid-v5 dpmd "$2" 2>/tmp/flags/err-$2.txt | tail -n 1 >> /tmp/flags/results.jsonl; }
while read -r l0 f0 l1 f1; do
  run 0 "$l0" "$f0" & run 1 "$l1" "$f1" & wait
done <<LIST
base0 - xnnpack --xla_cpu_use_xnnpack=true
onednn --xla_cpu_use_onednn=true base1 -
vw512 --xla_cpu_prefer_vector_width=512 mte_off --xla_cpu_multi_thread_eigen=false
xnndot --xla_cpu_experimental_xnn_fusion_type=dot ynndot --xla_cpu_experimental_ynn_fusion_type=dot
xnngreedy --xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY base2 -
LIST
