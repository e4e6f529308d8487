# Neural Previs developer commands. On a fresh Linux machine with Python 3.11:
#   make demo   build a blockout scene, render its conditioning bundle into out/
#   make test   run every test (creates the environments it needs)
PYTHON ?= python3.11
VENV := .venv
VENV42 := .venv42
PY := $(VENV)/bin/python
PY42 := $(VENV42)/bin/python
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' blender_manifest.toml)
PACKAGE := dist/neural_previs-$(VERSION).zip
EXTENSION_TOOL := $(VENV)/lib/python3.11/site-packages/bpy/5.0/scripts/addons_core/bl_pkg/cli/blender_ext.py
SOURCES := blender_manifest.toml __init__.py $(shell find addon operators ui engine -name '*.py' 2>/dev/null)
PYTEST_FLAGS ?= -q

.PHONY: all build test test-pure test-blender test-blender42 test-engine test-batch demo bench clean

all: build

$(VENV)/.installed: requirements-dev.txt engine/requirements.txt engine/requirements-batch.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

$(VENV42)/.installed: requirements-blender42.txt
	test -x $(PY42) || $(PYTHON) -m venv $(VENV42)
	$(PY42) -m pip install -q --upgrade pip
	$(PY42) -m pip install -q -r requirements-blender42.txt
	touch $@

# The extension package, built and validated with Blender's own extension tool.
build: $(PACKAGE)
$(PACKAGE): $(VENV)/.installed $(SOURCES)
	mkdir -p dist
	$(PY) $(EXTENSION_TOOL) build --source-dir . --output-filepath $(PACKAGE)
	$(PY) $(EXTENSION_TOOL) validate $(PACKAGE)

test-pure: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_FLAGS) tests/pure

test-blender: $(PACKAGE)
	$(PY) -m pytest $(PYTEST_FLAGS) tests/blender

test-engine: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_FLAGS) tests/engine

test-batch: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_FLAGS) tests/batch

# Each suite runs in its own process: bpy and torch are never loaded into one interpreter.
test: $(PACKAGE)
	$(PY) -m pytest $(PYTEST_FLAGS) tests/pure tests/blender
	$(PY) -m pytest $(PYTEST_FLAGS) tests/engine
	$(PY) -m pytest $(PYTEST_FLAGS) tests/batch
	$(PY) benchmarks/conditioning.py --quick

# The add-on tests again on Blender 4.2 LTS, the oldest supported version (CI runs this too).
test-blender42: $(PACKAGE) $(VENV42)/.installed
	NEURAL_PREVIS_TEST_ENGINE_PYTHON=$(abspath $(PY)) $(PY42) -m pytest $(PYTEST_FLAGS) tests/pure tests/blender

demo: $(PACKAGE)
	$(PY) demo/run_demo.py --out out

bench: $(PACKAGE)
	$(PY) benchmarks/conditioning.py
	$(PY) benchmarks/batch.py
	$(PY) benchmarks/memory.py
	$(PY) benchmarks/reprojection.py

clean:
	rm -rf dist out .pytest_cache
