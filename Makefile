# polyhunter's front door: every step of the process is a target here. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
NPM_STAMP := contracts/node_modules/.ci-stamp
export POLYHUNTER_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
export POLYHUNTER_TEST_DATABASE_URL ?= postgresql://polyhunter:polyhunter@127.0.0.1:5432/polyhunter_test

.PHONY: help
help: ## List the targets, one line each
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(NPM_STAMP): contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: contracts
contracts: $(NPM_STAMP) ## Compile contracts/src with the pinned solc-js into python/polyhunter/_artifacts (deterministic)
	cd contracts && node compile.js

.PHONY: setup
setup: $(PY) $(NPM_STAMP) contracts ## Make .venv, install Python deps, build the extension (release), npm ci, compile contracts
	$(BIN)/pip install -q "maturin>=1.9,<2"
	$(BIN)/maturin develop --release --extras dev -q

.PHONY: services
services: ## Install (apt) and start Redis and PostgreSQL on loopback for the tests; idempotent
	bash scripts/services.sh

.PHONY: demo
demo: setup ## Set everything up and run the main job on embedded defaults
	bash scripts/demo.sh

.PHONY: cargo-test
cargo-test: ## Rust unit and property tests
	cargo test --release --workspace -q

.PHONY: lint
lint: $(PY) ## ruff, ruff format --check, mypy --strict, cargo fmt --check, clippy -D warnings, stub check
	$(BIN)/ruff check python tests benches scripts
	$(BIN)/ruff format --check python tests benches scripts
	$(BIN)/mypy
	$(PY) -m mypy.stubtest polyhunter._core
	cargo fmt --all --check
	cargo clippy --release --workspace --all-targets --features python -q -- -D warnings

.PHONY: pytest
pytest: ## Python unit and integration tests (needs services and setup)
	$(BIN)/pytest

.PHONY: test
test: services setup cargo-test lint wheel pytest ## Set everything up and pass every test

.PHONY: bench
bench: setup ## Benchmarks: ours beside each reference; writes benches/results/ and README's tables from it
	mkdir -p benches/results
	$(BIN)/pytest benches -p no:cacheprovider --benchmark-columns=min,median,mean,ops \
	  --benchmark-json=benches/results/benchmarks.json -o testpaths=benches
	$(PY) scripts/bench_tables.py

.PHONY: wheel
wheel: $(PY) contracts ## Build the release wheel into dist/ (with the contract artifacts it carries)
	$(BIN)/pip install -q "maturin>=1.9,<2"
	rm -rf dist
	$(BIN)/maturin build --release --out dist -q

.PHONY: fmt
fmt: $(PY) ## Format Python and Rust in place
	$(BIN)/ruff format python tests benches
	$(BIN)/ruff check --fix python tests benches
	cargo fmt --all

.PHONY: clean
clean: ## Remove build outputs, the venv, node_modules and local state
	rm -rf target dist $(VENV) contracts/node_modules contracts/artifacts python/polyhunter/_artifacts .polyhunter .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find python -name '*.so' -delete
