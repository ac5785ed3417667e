# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(PY) -m raymvae.demo

test: setup
	$(PY) -m pytest -q

test-fast: setup  # the inner loop: everything but the Ray integration tests (under a minute)
	$(PY) -m pytest -q -m "not ray"

bench: setup
	$(PY) benchmarks/convert.py
	$(PY) benchmarks/train_step.py --steps 3
	$(PY) benchmarks/lstm_paths.py
	$(PY) benchmarks/generate.py
	$(PY) benchmarks/serve.py

clean:
	rm -rf $(VENV) .demo
