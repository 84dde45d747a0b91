# Hawser. `make run` and `make test` do all set-up on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
PYTEST      := $(VENV)/bin/pytest
RUFF        := $(VENV)/bin/ruff
MYPY        := $(VENV)/bin/mypy
DAEMON_ARGS ?=
PYTEST_ARGS ?=
C_SOURCES    = $(shell find bpf -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)

.PHONY: help install install-bench uninstall run test unit kernel e2e lint fmt bench bench-quick clean

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z0-9-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo "  variables:     DAEMON_ARGS='...' for run, PYTEST_ARGS='...' for the test targets"

install: ## install what is missing (apt, kernel headers, bpffs, venv), hawser/hawserd on the PATH, the hawser group; smoke-test BPF
	@deploy/setup.sh

install-bench: ## install, plus the benchmark tools (iperf3, wrk)
	@deploy/setup.sh --bench

uninstall: ## remove everything Hawser put on this node (hawserd reset, asks first; FORCE=1 does not), then what install put outside the checkout
	@deploy/uninstall.sh

run: install ## start `hawser daemon` in the foreground (DAEMON_ARGS passed through)
	$(VENV)/bin/hawser daemon $(DAEMON_ARGS)

test: install ## the whole suite: unit, kernel and e2e tests (two workers, a file each at a time)
	$(PYTEST) -ra --durations=20 -n 2 --dist loadfile $(PYTEST_ARGS) tests/unit tests/kernel tests/e2e

unit: install ## unit tests only (no privileges needed by the tests themselves)
	$(PYTEST) -ra $(PYTEST_ARGS) tests/unit

kernel: install ## kernel tests only (root, netns, BPF)
	$(PYTEST) -ra $(PYTEST_ARGS) tests/kernel

e2e: install ## end-to-end CLI tests only
	$(PYTEST) -ra $(PYTEST_ARGS) tests/e2e

lint: install ## ruff check, ruff format --check, mypy, clang-format --dry-run
	$(RUFF) check .
	$(RUFF) format --check .
	$(MYPY) controller cli testbed bench
	@if [ -n "$(C_SOURCES)" ]; then \
		echo "clang-format --dry-run --Werror $(words $(C_SOURCES)) files"; \
		clang-format --dry-run --Werror $(C_SOURCES); \
	fi

fmt: install ## rewrite Python and C sources in the project style
	$(RUFF) check --fix .
	$(RUFF) format .
	@if [ -n "$(C_SOURCES)" ]; then clang-format -i $(C_SOURCES); fi

bench: install-bench ## full benchmark run, ~26 min on a quiet machine (writes BENCHMARKS.md, bench/plots/)
	$(PY) bench/run.py --full

bench-quick: install-bench ## validation run, ~5 min (results and a report preview under bench/results/)
	$(PY) bench/run.py --quick

clean: ## sweep what the test suites left (t-* names, test nodes' sandboxes and pins), never a live daemon's
	@deploy/clean.sh
