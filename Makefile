# The two commands of the README's quick start. Each creates the virtual
# environment on first use and installs everything itself.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint perf clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned, so nothing later pulls a CUDA build in its place.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## evaluate the baselines into results.db and print the leaderboard
	$(VENV)/bin/mesabench demo

test: $(STAMP)  ## run the whole test suite
	$(PY) -m pytest -n auto

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

perf: $(STAMP)  ## print the speed figures quoted in the README
	$(VENV)/bin/mesabench perf

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
