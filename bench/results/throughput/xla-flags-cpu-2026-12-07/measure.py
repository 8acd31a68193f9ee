import json, os, sys, time
sys.path.insert(0, "/work/main")
import jax
import mjxrsm  # noqa
from bench.breakdown import update_rate
from bench.common import Timing
from mjxrsm.agents import make_agent
from mjxrsm.config.files import config_module
from mjxrsm.envs import make_env
env_name, algo, label = sys.argv[1], sys.argv[2], sys.argv[3]
c = config_module("train").get_config(f"{env_name},{algo},cpu")
env = make_env(env_name, impl="c")
o, a = env.observation_size, env.action_size
agent = make_agent(c.algo, o, a)
state = agent.init(jax.random.PRNGKey(0))
timing = Timing(min_time=12, min_reps=3, max_reps=30)
r = update_rate(agent, state, o, a, c.algo.batch_size, 20, timing)
flat = {k: v for k, v in r.items() if not isinstance(v, dict)}
print(json.dumps({"label": label, "xla_flags": os.environ.get("XLA_FLAGS",""), "env": env_name, "algo": algo, **flat}), flush=True)
