# framescribe developer tasks. `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp

.PHONY: setup test lint train-demo eval demo bench clean

setup: $(STAMP)

# Re-runs only when pyproject.toml changes (or the venv is new); an existing venv is reused.
$(STAMP): pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install -e '.[server,dev]'
	touch $@

test: setup
	$(VPY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .

train-demo: setup
	$(VENV)/bin/framescribe train demo --output models/bundles/demo

eval: setup
	$(VENV)/bin/framescribe eval --bundle models/bundles/demo --benchmark moving-digits --split test --json
	$(VENV)/bin/framescribe eval --bundle models/bundles/demo --benchmark lasa-airwriting --split test --json

demo: setup
	$(VPY) -m framescribe.plugin.demo

bench: setup
	$(VPY) -m framescribe.models.benchmark_speed

# Removes build outputs and caches; keeps the venv (rm -rf $(VENV) for a fresh one).
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
