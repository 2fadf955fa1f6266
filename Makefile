# The two quickstart commands: `make demo` and `make test`. Both create .venv/ when needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STORE ?= sqlite:///runs/demo.db
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-slow install install-dev postgres clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when pyproject.toml changes; the stamp file records the last install.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	@mkdir -p runs
	$(BIN)/looplab run campaigns/alloy_emt_lookup.yaml --store $(STORE)

# the store, lease, engine and daemon tests also run on a throw-away PostgreSQL server (tests/conftest.py);
# this installs Debian's postgresql package when no server is found and we are root (a fresh CI machine)
postgres:
	@sh tests/ensure_postgres.sh

# Two test processes (pytest-xdist), each with one BLAS and one TensorFlow thread, subprocesses included: on
# two cores, a library's own thread pool in each of two processes spins against the other's (the default
# suite took 13 min 11 s in one process, 4 min 46 s this way, both on an idle 2-core machine)
ONE_THREAD := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1

test: install-dev postgres
	$(ONE_THREAD) $(BIN)/python -m pytest -m "not slow" -n 2

test-slow: install-dev postgres
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) runs .pytest_cache
