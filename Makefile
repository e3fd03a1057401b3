# Two commands set up everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# "1" where the compiled hot path can be built: a C compiler and Python's headers.
CAN_COMPILE := $(shell command -v cc >/dev/null && $(PYTHON) -c "import os, sysconfig; print(1 if os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')) else '')")

.PHONY: run demo-postgres test unit bench image-test clean

$(STAMP): pyproject.toml setup.py $(wildcard cdcsink/*/_speedups.c cdcsink/*/*/_speedups.c)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The compiled hot path must build where a C compiler and Python's headers are (a broken
	# C file fails here, not by falling back to pure Python unseen); without them, pip
	# installs pure Python with a warning.
	CDCSINK_REQUIRE_EXTENSIONS=$(CAN_COMPILE) $(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start the dev broker and run the daemon on the bundled sample events
run: $(STAMP)
	$(PY) -m cdcsink.devtools.run config/sample.yaml

## demo-postgres: a local PostgreSQL (its own cluster, needs Debian's postgresql package) streamed into the dev broker
demo-postgres: $(STAMP)
	$(PY) -m cdcsink.devtools.pgdemo

## test: the full suite (unit + integration against the dev broker, or CDCSINK_TEST_BOOTSTRAP) on the
## compiled hot path, then the hot path's unit tests again on its pure-Python implementation (where a
## C compiler is; without one the first pass already runs pure Python)
HOT_PATH_TESTS := tests/unit/decode tests/unit/codec tests/unit/route tests/unit/sink
test: $(STAMP)
	$(PY) -m pytest -q
	$(if $(CAN_COMPILE),CDCSINK_NO_EXTENSIONS=1 $(PY) -m pytest -q -p no:cacheprovider $(HOT_PATH_TESTS))

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

## bench: naive vs ceiling vs cdcsink on the dev broker (or CDCSINK_BENCH_BOOTSTRAP); see bench/README.md
bench: $(STAMP)
	$(PY) -m bench.run

## image-test: build the Dockerfile with podman and run the image against the dev broker
## (minutes; installs podman where missing, see tests/image/prepare.sh)
IMAGE_TEST_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cdcsink-image-test
image-test: $(STAMP)
	tests/image/prepare.sh $(IMAGE_TEST_CACHE)
	CONTAINERS_CONF=$(IMAGE_TEST_CACHE)/containers.conf \
	CDCSINK_IMAGE_TEST_BASE="$$(cat $(IMAGE_TEST_CACHE)/base-image)" \
	$(PY) -m pytest -q tests/image

clean:
	rm -rf $(VENV) run .pytest_cache
