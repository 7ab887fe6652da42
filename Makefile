# Two entry points: `make demo` and `make test`. Each creates .venv when missing and
# installs the project with what it needs, so a fresh Linux machine with Python 3.11+ needs
# nothing else.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench bench-smoke regen fidelity-cache clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,gcp]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sgtm demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

# A short run of the runtime benchmark, to show it works (figures are not meaningful).
bench-smoke: $(STAMP)
	$(BIN)/python -m bench --smoke runtime_bench

regen: $(STAMP)
	$(BIN)/python -m tests.regen_golden

# Public sGTM templates the runtime is checked against (tests/runtime/test_fidelity.py): not in
# the repository, fetched at pinned commits into $SGTM_FIDELITY_CACHE (default ~/.cache/...).
fidelity-cache: $(STAMP)
	$(BIN)/python -m tests.runtime.fidelity fetch

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
