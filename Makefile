# The same targets for people and CI: `make help` lists them.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= auto

.DEFAULT_GOAL := help
.PHONY: help install run test lint format services bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --progress-bar off -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install vid2mp3 with its test tools

run: $(STAMP) ## Install, then run the embedded service on http://127.0.0.1:8080
	$(BIN)/vid2mp3 run

services: ## Start RabbitMQ, MariaDB and Redis if they are down
	bin/ensure-services

lint: $(STAMP) ## Check style and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) services lint ## Install, lint and run the whole test suite in parallel
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

format: $(STAMP) ## Reformat the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## Run the benchmarks (numbers go into docs/benchmarks.md)
	$(BIN)/python bench/conversion.py
	$(BIN)/python bench/upload_memory.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/ui.py
	$(BIN)/python bench/cover_waveform.py

clean: ## Remove the virtualenv and local state
	rm -rf $(VENV) var .pytest_cache .ruff_cache
