# gridgov: two commands. `make demo` sets everything up and runs the sample city; `make test` runs the suite.
VENV := .venv
BIN := $(VENV)/bin
SRC := grid api maps data tests benchmarks

.PHONY: setup demo test bench lint fmt clean help

help:
	@echo "make demo   - set up (Python, PostgreSQL+PostGIS, databases), load the Beijing sample city, serve the API"
	@echo "make test   - set up, then lint, type-check and run the whole test suite against a real PostGIS"
	@echo "make bench  - run the benchmarks at full size"
	@echo "make lint   - ruff and mypy only"

setup:
	@./scripts/bootstrap

demo: setup
	$(BIN)/gridgov demo

test: setup lint
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python -m benchmarks --size full

lint: setup
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy

fmt:
	$(BIN)/ruff check --fix $(SRC)
	$(BIN)/ruff format $(SRC)

clean:
	rm -rf data/build .pytest_cache .mypy_cache .ruff_cache
