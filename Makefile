# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
JS := tests/js/node_modules/.installed

.PHONY: setup js demo test test-fast bench clean

setup: $(STAMP)

# magenta-js for the export checks, into tests/js (no global install); without npm the checks are skipped
js:
	@if [ -f $(JS) ] && [ $(JS) -nt tests/js/package-lock.json ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/js --no-audit --no-fund --loglevel=error && touch $(JS); \
	else echo "npm not found: the magenta-js checks will be skipped (install Node.js 18+ with npm, e.g. apt install nodejs npm)"; fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(PY) -m raymvae.demo

test: setup js
	$(PY) -m pytest -q

test-fast: setup  # the inner loop: everything but the Ray and Node integration tests (under a minute)
	$(PY) -m pytest -q -m "not ray and not js"

bench: setup
	$(PY) benchmarks/convert.py
	$(PY) benchmarks/train_step.py --steps 3
	$(PY) benchmarks/lstm_paths.py
	$(PY) benchmarks/generate.py
	$(PY) benchmarks/serve.py

clean:
	rm -rf $(VENV) .demo tests/js/node_modules
