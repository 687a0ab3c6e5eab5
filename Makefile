# Two entry points, each creating the local virtualenv it needs:
#   make demo   start the sample stack, drive a burst of payments, print the summary
#   make test   lint, type-check and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean walletpay-image

$(STAMP): pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "paychaos needs Python >= 3.11; run: make PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/paychaos run experiments/hello.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@mkdir -p $(VENV)/typecheck  # the folders under their import names, for mypy (see pyproject.toml)
	@ln -sfn ../../harness $(VENV)/typecheck/paychaos
	@ln -sfn ../../targets $(VENV)/typecheck/paychaos_targets
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)  # the README's Benchmarks; bench/flakiness.py (30 min) and bench/mutation_score.py (45 min) run alone
	$(BIN)/python bench/stack_throughput.py
	$(BIN)/python bench/checker_scale.py
	$(BIN)/python bench/report_scale.py
	$(BIN)/python bench/load_capacity.py
	$(BIN)/python bench/proxy_overhead.py
	$(BIN)/python bench/http_faults.py
	$(BIN)/python bench/open_loop.py

walletpay-image: $(STAMP)  # targets/walletpay's image, paychaos/walletpay:dev, from this machine's Python (never pulled)
	$(BIN)/python -m paychaos_targets.walletpay.image

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
