# Two entry points, each sets up .venv on a fresh machine:
#   make demo   install, then run the popmis case study end to end through the CLI
#   make test   install, then run the test suite (notebooks included, at reduced settings)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/bayesimpute run models/popmis.toml --out demo-output

test: $(STAMP)
	BAYESIMPUTE_FAST=1 $(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile -q --durations=15 --nbmake --nbmake-timeout=900 tests notebooks

test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q --nbmake tests notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_popmis.py
	$(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/bench_impact.py
	$(BIN)/python benchmarks/impact_ct_diagnostic.py
	$(BIN)/python benchmarks/bench_heckman.py
	$(BIN)/python benchmarks/compare_popmis_r.py
	$(BIN)/python benchmarks/bench_analysis.py
	$(BIN)/python benchmarks/bench_multilevel.py
	$(BIN)/python benchmarks/bench_obesity_spread.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
