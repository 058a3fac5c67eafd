# make lab   — set up (first time) and open the course in JupyterLab
# make test  — set up (first time) and run the whole test suite in quick mode
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup lab test lint exercises clean

setup: $(STAMP)

# Reinstalls only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

lab: setup
	$(PY) -m rnnlab lab

# Test files run in parallel, each whole file on one worker (notebook cells stay in order).
WORKERS ?= 2
test: setup
	RNNLAB_QUICK=1 RNNLAB_CACHE=0 $(PY) -m pytest -n $(WORKERS) --dist loadfile

# Regenerate exercises/student/ (committed) and exercises/autograder/ (git-ignored) from exercises/source/.
exercises: setup
	$(PY) -m rnnlab.grading.build

lint: setup
	$(PY) -m ruff check rnnlab tests chapters

clean:
	rm -rf $(VENV) build .pytest_cache
