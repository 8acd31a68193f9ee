# mjxrsm entry points. `make install train` is the whole set-up for a new user.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ENV    ?= inverted_pendulum
ALGO   ?= dpmd
PRESET ?= auto
ARGS   ?=
WORKDIR ?= runs/$(ENV)-$(ALGO)-$(PRESET)
EXTRAS ?= dev

.PHONY: install quickstart train eval diagnose test test-slow lint bench bench-gpu bench-learning \
	bench-gpu-humanoid bench-engines clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"

# Compiled programs are cached across runs (seeds and budgets change values, not programs), so a
# second run of the same ENV/ALGO/PRESET starts in seconds. Set JAX_COMPILATION_CACHE_DIR= to disable.
train: export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/runs/.jax-compilation-cache

train:
	@test -x $(PY) || $(MAKE) install
	$(PY) -m mjxrsm.train --config=configs/train.py:$(ENV),$(ALGO),$(PRESET) --workdir=$(WORKDIR) $(ARGS)

# The README's first command: DPMD on inverted_pendulum with the small CPU preset (continued if
# it was started before: --resume only where a run exists, since --resume elsewhere is refused).
quickstart:
	$(MAKE) train ENV=inverted_pendulum ALGO=dpmd PRESET=cpu WORKDIR=runs/quickstart \
		ARGS="$(if $(wildcard runs/quickstart/config.json),--resume) $(ARGS)"

# A run's policy on N parallel MJX episodes (and on Gymnasium itself for the -v5 tasks) ->
# $(RUN)/eval.json; VIDEO=1 adds $(RUN)/eval.mp4. Works while the run is still training.
eval:
	$(PY) -m mjxrsm.evaluate $(RUN) --episodes $(or $(EPISODES),10) $(if $(VIDEO),--video) $(ARGS)

# What a run logged, at 10 points, and the known patterns that held its learning back.
diagnose:
	$(PY) -m mjxrsm.diagnose $(RUN) $(ARGS)

# Two pytest workers (pytest-xdist), one per file at a time: the fast tests are mostly
# single-threaded XLA compiles, so two cores run them in about half the time.
TEST_WORKERS ?= 2
test:
	@test -x $(PY) || $(MAKE) install
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile $(ARGS)

test-slow:
	$(PY) -m pytest -q -m slow $(ARGS)

lint:
	$(PY) -m ruff check .

bench:
	$(PY) -m bench.throughput $(ARGS)

# The GPU session's one command (~8 min on one H100/H200; results/throughput/gpu-<device>-<date>.json).
bench-gpu:
	$(PY) -m bench.gpu $(ARGS)

# The parallel-regime Humanoid-v5 DPMD run (bench/learning.py `humanoid-parallel`, a GPU job).
# At LIMIT s it stops after its chunk in progress (about a minute on a GPU) with a checkpoint,
# and bench.learning records it in GPU_OUT/stopped.json with its curve and wall clock. On the
# device: make bench-gpu-humanoid GPU_OUT=$OUT/humanoid LIMIT=420
GPU_OUT ?= bench/results/learning/learning-humanoid-parallel-gpu
GPU_RUNS ?= runs/bench-learning/learning-humanoid-parallel-gpu
LIMIT ?= 420
bench-gpu-humanoid:
	-$(PY) -m bench.learning --preset humanoid-parallel --out $(GPU_OUT) --runs $(GPU_RUNS) \
		--timeout $(LIMIT) $(ARGS) \
		--host-note "$$($(PY) -c 'import jax; print(jax.devices()[0].device_kind)'), alone"

bench-learning:
	$(PY) -m bench.learning $(ARGS)

# Physics engines side by side (raw mujoco.batch, c, jax; warp on a GPU) -> results/throughput/.
bench-engines:
	$(PY) -m bench.engines $(ARGS)

clean:
	rm -rf runs .pytest_cache .ruff_cache
