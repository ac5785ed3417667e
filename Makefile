# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
JS := tests/js/node_modules/.installed

.PHONY: setup system js demo test test-fast bench clean

setup: system $(STAMP)

# Debian packages for the browser test (chromium, chromium-driver) and WAV rendering (fluidsynth with a
# General MIDI soundfont): installed with apt when missing and run as root, otherwise named; the tests that
# need them are skipped, saying why, where they are absent
SYSTEM_PKGS := chromium chromium-driver fluidsynth fluid-soundfont-gm
system:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	command -v fluidsynth >/dev/null 2>&1 || missing="$$missing fluidsynth"; \
	[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing="$$missing fluid-soundfont-gm"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing (apt)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
			>/dev/null) || echo "apt could not install$$missing: the browser and audio tests will be skipped"; \
	else echo "not installed:$$missing (the browser and audio tests will be skipped; as root: apt-get install$$missing)"; fi

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
	$(PY) benchmarks/bf16_gradients.py
	$(PY) benchmarks/generate.py
	$(PY) benchmarks/serve.py
	$(PY) benchmarks/audio.py

clean:
	rm -rf $(VENV) .demo tests/js/node_modules
