"""The script behind results.jsonl: `agent.update` rate of Humanoid-v5 DPMD (`cpu` preset) under
the XLA_FLAGS it is started with, e.g.
`XLA_FLAGS=--xla_cpu_use_xnnpack=true taskset -c 0 python measure.py Humanoid-v5 dpmd xnnpack`
(drive.sh runs every variant, two at a time, with the learning runs paused)."""

import json
import os
import sys

sys.path.insert(0, "/work/main")

import jax  # noqa: E402

import mjxrsm  # noqa: E402, F401
from bench.breakdown import update_rate  # noqa: E402
from bench.common import Timing  # noqa: E402
from mjxrsm.agents import make_agent  # noqa: E402
from mjxrsm.config.files import config_module  # noqa: E402
from mjxrsm.envs import make_env  # noqa: E402

env_name, algo, label = sys.argv[1], sys.argv[2], sys.argv[3]
c = config_module("train").get_config(f"{env_name},{algo},cpu")
env = make_env(env_name, impl="c")
o, a = env.observation_size, env.action_size
agent = make_agent(c.algo, o, a)
state = agent.init(jax.random.PRNGKey(0))
timing = Timing(min_time=12, min_reps=3, max_reps=30)
r = update_rate(agent, state, o, a, c.algo.batch_size, 20, timing)
flat = {k: v for k, v in r.items() if not isinstance(v, dict)}
print(json.dumps({"label": label, "xla_flags": os.environ.get("XLA_FLAGS", ""), "env": env_name,
                  "algo": algo, **flat}), flush=True)
