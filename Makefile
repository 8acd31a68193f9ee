# mjxrsm entry points. `make install train` is the whole set-up for a new user.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ENV    ?= inverted_pendulum
ALGO   ?= dpmd
ARGS   ?=
WORKDIR ?= runs/$(ENV)-$(ALGO)
EXTRAS ?= dev

.PHONY: install train test test-slow lint bench bench-learning clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"

train:
	@test -x $(PY) || $(MAKE) install
	$(PY) -m mjxrsm.train --config=configs/train.py:$(ENV),$(ALGO) --workdir=$(WORKDIR) $(ARGS)

test:
	@test -x $(PY) || $(MAKE) install
	$(PY) -m pytest -q -m "not slow" $(ARGS)

test-slow:
	$(PY) -m pytest -q -m slow $(ARGS)

lint:
	$(PY) -m ruff check .

bench:
	$(PY) -m bench.throughput $(ARGS)

bench-learning:
	$(PY) -m bench.learning $(ARGS)

clean:
	rm -rf runs .pytest_cache .ruff_cache
