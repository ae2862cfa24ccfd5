# The README's two commands: `make demo` and `make test`. Both build .venv from
# pyproject.toml on a machine that has only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_OUT ?= demo-output

.PHONY: demo test bench lint typecheck unit mutation mutation-modules mutation-sample mutation-survivors mutation-clean clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/eap demo --out $(DEMO_OUT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy src/eap

# The browser tests drive Debian's chromium, the Spark tests need Java: each installed
# first when missing (as root).
unit: $(VENV)/.installed-dev
	sh tools/chromium.sh
	sh tools/java.sh
	$(BIN)/pytest -n 2 -q

test: lint typecheck unit

# Mutation testing of src/eap/stats and src/eap/derive against tests/stats and
# tests/derive (mutmut; [tool.mutmut] in pyproject.toml; docs/testing.md). Not part of
# `make test`: a full run takes hours on 2 shared cores. Results accumulate in mutants/
# (a second run tests only what has no result; `make mutation-clean` starts over).
# MUTANTS selects some by mutmut's names with wildcards (they are tested again):
#   make mutation MUTANTS='eap.stats.km.*'
# `make mutation-modules` runs module by module, each to the end, with its score.
MUTANTS ?=
mutation: $(VENV)/.installed-dev
	$(BIN)/python tools/mutation_modules.py --sync
	nice -n 19 $(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/mutmut export-cicd-stats
	$(BIN)/python tools/mutation_score.py mutants/mutmut-cicd-stats.json

mutation-modules: $(VENV)/.installed-dev
	nice -n 19 $(BIN)/python tools/mutation_modules.py $(MODULES)

# A random sample of the mutants without a result, with the score and its 95% CI
# (MINUTES bounds the run; a rerun continues the same sample).
MINUTES ?= 60
mutation-sample: $(VENV)/.installed-dev
	nice -n 19 $(BIN)/python tools/mutation_sample.py --minutes $(MINUTES)

mutation-survivors: $(VENV)/.installed-dev
	$(BIN)/python tools/mutation_survivors.py

mutation-clean:
	rm -rf mutants

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) mutants .pytest_cache .mypy_cache .ruff_cache .hypothesis
