# make lab   — set up (first time) and open the course in JupyterLab
# make test  — set up (first time) and run the whole test suite in quick mode, the course site included
# make book  — the course website in build/book/, from full-mode runs of the chapters
# make release — a learner copy of the course (no solutions, no autograders) in build/release
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# What each kind of user installs (pyproject.toml's extras): a learner the course with JupyterLab and
# the exercises' checker, the tests everything, the site builder Jupyter Book, a teacher otter's grading.
EXTRAS_lab     := lab,exercises
EXTRAS_test    := test
EXTRAS_site    := site
EXTRAS_grading := grading

.PHONY: setup lab test book lint exercises release clean

setup: $(STAMP)-lab

# One stamp per set of extras; each reinstalls only when pyproject.toml or constraints.txt changed
# since it was made.
$(STAMP)-%: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[$(EXTRAS_$*)]'
	@touch $@

lab: $(STAMP)-lab
	$(PY) -m rnnlab lab

# Test files run in parallel, each whole file on one worker (notebook cells stay in order). The chapters
# nbval executes are kept (with their outputs) for a quick-mode course site, checked in Chromium last.
WORKERS ?= 2
QUICK_RUNS := build/executed/quick
test: $(STAMP)-test
	rm -rf $(QUICK_RUNS) build/site-quick
	RNNLAB_QUICK=1 RNNLAB_CACHE=0 RNNLAB_EXECUTED_DIR=$(QUICK_RUNS) $(PY) -m pytest -n $(WORKERS) --dist loadfile -m "not site"
	$(PY) -m rnnlab book --mode quick --no-execute --executed $(QUICK_RUNS) --out build/site-quick
	RNNLAB_SITE=build/site-quick $(PY) -m pytest -m site tests/e2e/test_site.py

# The site from full-mode runs (train-once cache on); chapters run again only when they or rnnlab changed.
book: $(STAMP)-site
	$(PY) -m rnnlab book --mode full --out build/book --workers $(WORKERS)

# Regenerate exercises/student/ (committed) and exercises/autograder/ (git-ignored) from exercises/source/.
exercises: $(STAMP)-grading
	$(PY) -m rnnlab.grading.build

# A learner copy of the course without exercises/source/ (solutions, hidden tests) and autograders.
RELEASE_DIR ?= build/release
release: $(STAMP)-grading
	$(PY) -m rnnlab.grading release $(RELEASE_DIR) --replace

lint: $(STAMP)-test
	$(PY) -m ruff check rnnlab tests chapters conftest.py

clean:
	rm -rf $(VENV) build .pytest_cache
