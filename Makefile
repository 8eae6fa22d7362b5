# Every target sets itself up: a .venv with the pinned dependencies, after checking Java.
PYTHON ?= python3
VENV   := .venv
PY     := $(CURDIR)/$(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export PYSPARK_PYTHON := $(PY)
export PYSPARK_DRIVER_PYTHON := $(PY)
export SPARK_LOCAL_IP := 127.0.0.1

.PHONY: setup demo test test-fast lint bench package clean check-env

setup: $(STAMP)

check-env:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "error: Python 3.11+ is required (found: $$($(PYTHON) --version 2>&1)); run make PYTHON=/path/to/python3.11"; exit 1; }
	@command -v java >/dev/null 2>&1 || { \
	  echo "error: Java 17 is required by Spark and 'java' is not on PATH."; \
	  echo "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless"; \
	  echo "  macOS:         brew install openjdk@17   (then set JAVA_HOME)"; exit 1; }
	@java -version 2>&1 | head -1 | grep -Eq '"(17|21)[."]' || { \
	  echo "error: Spark 3.5 here is tested with Java 17; found: $$(java -version 2>&1 | head -1)"; \
	  echo "  install openjdk-17 and put it first on PATH (or set JAVA_HOME)"; exit 1; }

$(STAMP): pyproject.toml | check-env
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m jobs.demo

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not e2e and not cluster"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy selection jobs builders

# Every target row of docs/benchmarks.md, medians of 3: about two hours on 2 quiet cores, or
#   make bench BENCH_ARGS="--budget-minutes 45"   three times (each session continues the last);
#   make bench BENCH_ARGS="--dry-run"             the plan and its estimate; "--quick" a smoke test.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m bench.run $(BENCH_ARGS)

# dist/selection.zip: the `selection` package as the SageMaker step ships it (--py-files), byte
# for byte, for spark-submit on any cluster. Standard library only: no .venv, no SageMaker SDK.
package:
	$(PYTHON) -m builders.active_sample_selection.package --output dist/selection.zip

clean:
	rm -rf $(VENV) demo_output dist .pytest_cache .mypy_cache .ruff_cache
