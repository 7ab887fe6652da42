# Entry points: `make demo` and `make test` (what CI runs, .ci/run). Each creates .venv when
# missing and installs the project with what it needs, pinned by constraints.txt, so a fresh
# Linux machine with Python 3.11+ needs nothing else.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Line coverage of formats/ generator/ runtime/ sidecar/ ops/ sgtm/ by the suite on 2026-12-02 (92.29%),
# rounded down: raise it when coverage rises, never lower it to get green.
COVERAGE_FLOOR := 92
# Test processes: one per core (the suite is xdist-safe: free ports, tmp paths, per-process
# emulators); PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto

.PHONY: demo test lint browser typecheck pytest bench bench-smoke regen fidelity-cache mutation constraints clean

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sgtm demo
	$(BIN)/sgtm plan ropa examples/shop/plan.yaml -o out/ropa

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The snippet's browser test (tests/browser) and the reconciliation report's
# (tests/reconcile/test_html.py) drive Debian's chromium; CI runs as root, so it is
# installed here when missing. Without root it is only a warning (and the test skips, except
# under CI=true where a missing browser fails).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "warning: chromium is not installed; tests/browser will skip" >&2; fi; }


typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile \
		--cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

# A few seconds of every benchmark: figures printed, nothing asserted.
bench-smoke: $(STAMP)
	$(BIN)/python -m bench.smoke

test: lint typecheck browser pytest bench-smoke

bench: $(STAMP)
	$(BIN)/python -m bench

# Every writer of golden files and fixtures; review the diff before committing it.
regen: $(STAMP)
	$(BIN)/python -m tests.regen_golden
	$(BIN)/python -m tests.validate.make_broken_containers
	$(BIN)/python -m tests.webhooks.mapping_cases --write
	$(BIN)/python -m tests.terraform.readme_tables

# Mutation testing of the consent decision and request authentication ([tool.mutmut]);
# the score is reported in docs/mutation.md.
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[mutation]'
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut results

# Re-pin constraints.txt from a fresh install of every extra (after changing pyproject.toml).
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet '.[test,mutation]'
	.venv-constraints/bin/python -m pip freeze --exclude-editable | grep -v '^sgtm-companion' > constraints.txt
	rm -rf .venv-constraints

# Public sGTM templates the runtime is checked against (tests/runtime/test_fidelity.py): not in
# the repository, fetched at pinned commits into $SGTM_FIDELITY_CACHE (default ~/.cache/...).
fidelity-cache: $(STAMP)
	$(BIN)/python -m tests.runtime.fidelity fetch

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache mutants
