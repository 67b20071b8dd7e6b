# framescribe developer tasks. `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
# make test: pytest-xdist workers (auto: one per core, at most 4), each taking whole test files
TEST_WORKERS ?= auto
STAMP := $(VENV)/.setup-stamp
# The landmark stage's MediaPipe (Tasks API only; installed --no-deps beside protobuf 7)
MEDIAPIPE := mediapipe==1.2.3

.PHONY: setup test lint proto train-demo train-airwriting eval eval-airwriting-real demo bench soak clean gst-plugin experiment-rnn-vs-lstm

# The landmark stage's MediaPipe model files are (re)built on every run when missing from the
# cache ($FRAMESCRIBE_CACHE_DIR, default ~/.cache/framescribe); when present it only checks them.
setup: $(STAMP)
	$(VPY) -m framescribe.models.landmarks.mediapipe_tasks

# Re-runs only when pyproject.toml changes (or the venv is new); an existing venv is reused.
# MediaPipe goes in with --no-deps (see the landmarks extra in pyproject.toml).
# uv (from PyPI, into the venv) resolves the same versions as pip from PyPI and installs them
# in 46 s here where pip took 128 s: it downloads and byte-compiles in parallel. Keep the
# byte-compiling: where PYTHONDONTWRITEBYTECODE is set, as on CI machines, nothing caches it
# later, and every test process would compile TensorFlow's sources on import (~20 s each).
# uv reads PyPI and UV_* settings (UV_INDEX_URL, ...), not pip.conf.
UV := $(VPY) -m uv pip install --python $(VPY) --compile-bytecode
$(STAMP): pyproject.toml package.json package-lock.json
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --upgrade pip uv
	$(UV) -e '.[server,dev,ray,landmarks]'
	$(UV) --no-deps $(MEDIAPIPE)
	@# Node tools: buf (proto lint) and the Node.js gRPC client of the interop test.
	if command -v npm >/dev/null; then npm ci --no-audit --no-fund; \
	else echo "note: npm not found; the Node.js interop test and buf lint need Node.js"; fi
	touch $@

test: setup
	$(VPY) -m pytest -q -n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile --no-loadscope-reorder --durations=25

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo --cache-dir .cache/import-linter  # pyproject's layers
	node_modules/.bin/buf lint proto

# Regenerate the Python gRPC stubs after editing proto/framescribe/v1/*.proto (they are
# committed, so `pip install .` needs no protoc; tests/test_proto.py checks they are current).
proto: setup
	$(VPY) -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto \
		--grpc_python_out=proto proto/framescribe/v1/framescribe_service.proto

train-demo: setup
	$(VENV)/bin/framescribe train demo --output models/bundles/demo

# The air-writing landmark bundle (an LSTM over the index fingertip's track; ~20 min on the
# shared 2-core CPU): trains, exports LiteRT, measures airwriting-lasa on TF and LiteRT and
# writes models/bundles/airwriting/report.md (the numbers the README quotes).
train-airwriting: setup
	$(VENV)/bin/framescribe train airwriting --output models/bundles/airwriting

# The air-writing bundle on the real-hand set (~10 min a runtime on 2 cores): metrics recorded
# in its manifest, its report.md rewritten.
eval-airwriting-real: setup
	$(VENV)/bin/framescribe eval --bundle models/bundles/airwriting --benchmark airwriting-real --split test --runtime tf --record
	$(VENV)/bin/framescribe eval --bundle models/bundles/airwriting --benchmark airwriting-real --split test --runtime litert --record
	$(VPY) -m framescribe.models.training.airwriting_recipe models/bundles/airwriting

eval: setup
	$(VENV)/bin/framescribe eval --bundle models/bundles/demo --benchmark moving-digits --split test --json
	$(VENV)/bin/framescribe eval --bundle models/bundles/demo --benchmark lasa-airwriting --split test --json
	$(VENV)/bin/framescribe eval --bundle models/bundles/airwriting --benchmark airwriting-lasa --split test --json

demo: setup
	$(VPY) -m framescribe.plugin.demo

bench: setup
	PYTHONPATH=tests $(VPY) -m benchmarks.benchmark_speed --json reports/speed.json
	PYTHONPATH=tests $(VPY) -m benchmarks.benchmark_server --json reports/bench.json
	PYTHONPATH=tests $(VPY) -m benchmarks.benchmark_batch --json reports/bench.json
	PYTHONPATH=tests $(VPY) -m benchmarks.benchmark_live_priority --json reports/bench.json
	PYTHONPATH=tests $(VPY) -m benchmarks.benchmark_landmarks --json reports/bench.json

# The server under a mixed, partly hostile load for SOAK_MINUTES (not part of `make test`, which
# runs a ~40 s version: tests/test_soak.py): writes reports/soak.json, exits 1 if a floor fails.
SOAK_MINUTES ?= 10
soak: setup
	PYTHONPATH=tests $(VPY) -m benchmarks.soak --minutes $(SOAK_MINUTES) --json reports/soak.json

# Removes build outputs and caches; keeps the venv (rm -rf $(VENV) for a fresh one).
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

# The GStreamer element (plugin/gstreamer/python/framescribe_element.py). Debian's plugin loader
# embeds /usr/bin/python3, so the element's imports (grpcio, numpy, opencv, framescribe) come
# from a venv of that interpreter that still sees Debian's gi/Gst (--system-site-packages).
# Its local-landmarks property runs the landmark stage in the element: MediaPipe goes in as
# `make setup` installs it (the landmarks extra, then mediapipe --no-deps); the .task files are
# the ones `make setup` built in the shared cache. Reinstalls when the client side or the
# landmark stage changes. Needs gstreamer1.0-python3-plugin-loader.
GST_VENV := .gst-venv
GST_STAMP := $(GST_VENV)/.setup-stamp

gst-plugin: $(GST_STAMP)
	@gst-inspect-1.0 python >/dev/null 2>&1 || echo "note: GStreamer's Python plugin loader is \
	missing (Debian: apt install gstreamer1.0-python3-plugin-loader python3-gst-1.0)"
	@echo "framescribe GStreamer element ready; use it with:"
	@echo "  export GST_PLUGIN_PATH=$(CURDIR)/plugin/gstreamer"
	@echo "  gst-inspect-1.0 framescribe"

$(GST_STAMP): pyproject.toml $(wildcard plugin/*.py proto/framescribe/v1/*.py models/video/*.py models/inference/events.py models/inference/landmark_stage.py models/landmarks/*.py models/data/islr_layout.py)
	test -x $(GST_VENV)/bin/python || /usr/bin/python3 -m venv --system-site-packages $(GST_VENV)
	@# Not for git (Python 3.13+ venvs write this themselves).
	echo '*' > $(GST_VENV)/.gitignore
	$(GST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check '.[landmarks]'
	$(GST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps $(MEDIAPIPE)
	touch $@

# SimpleRNN vs LSTM, same budget, on 256- and 32-frame lasa-airwriting clips (~35 min on the
# shared 2-core CPU): writes reports/rnn_vs_lstm.md, .png and .json (the figures the README
# quotes); cache in .cache/experiments/.
experiment-rnn-vs-lstm: setup
	PYTHONPATH=tests $(VPY) -m experiments.experiment_rnn_vs_lstm
	PYTHONPATH=tests $(VPY) -m benchmarks.rnn_vs_lstm_json reports/rnn_vs_lstm.md
