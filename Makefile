# godi: the README's commands. Every target runs from the repository root with the
# project's virtualenv first on PATH, so `godi`, `snakemake`, `pytest`... are its own.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/.venv/bin:$(PATH)

CORES ?= 2
DEMO_TARGET := example/go1.27.3
DEMO_SNAPSHOTS := artifacts/$(DEMO_TARGET)/entry/snapshots.json
GO_ALL := $(shell cat scripts/go-versions-all.txt)

# Live (BPF) tests must run as root; elsewhere they skip with a reason.
# An explicit GODI_LIVE_TESTS in the environment wins.
LIVE := if [ "$$(id -u)" -eq 0 ]; then export GODI_LIVE_TESTS=$${GODI_LIVE_TESTS:-1}; fi

# The checks of `make test`, run with whichever virtualenv is first on PATH.
CHECKS := godi schemas --check; ruff check .; ruff format --check .; mypy; $(LIVE); pytest

.PHONY: help setup demo test test-latest test-disarm-long test-all-go lock lock-upgrade snakemake golden-check \
	golden report lint clean fuzz-abi test-real

help:
	@echo "make setup        install BCC, kernel headers, .venv and the pinned Go toolchains"
	@echo "make demo         run the pipeline on the bundled example (Go 1.27) and print its snapshots"
	@echo "make test         schema drift check, ruff, mypy, pytest (live BPF tests when root)"
	@echo "make test-latest  the same checks with the newest releases of every dependency (.venv-latest)"
	@echo "make test-disarm-long  the disarming live tests over 30 s and 10 exits (make test: 5 s, 3)"
	@echo "make test-all-go  pytest against every Go of scripts/go-versions-all.txt"
	@echo "make lock         update requirements/ (the lock) for a changed pyproject.toml or Go list"
	@echo "make lock-upgrade move the lock to the newest releases"
	@echo "make snakemake    the pipeline for every target of config/config.yaml"
	@echo "make golden-check the pipeline, then compare its snapshots with the goldens (CI)"
	@echo "make golden       the pipeline, then rewrite the goldens (after an intended change)"
	@echo "make report       the pipeline, then its report: artifacts/report.html"
	@echo "make lint         snakemake --lint"
	@echo "make fuzz-abi     the signature fuzzer: SEED=1 N=1000 GO='<versions>' (default: all)"
	@echo "make test-real    standard-library test binaries and commands under probes, two Go"
	@echo "make clean        remove artifacts/"

setup:
	scripts/bootstrap.sh

demo:
	@scripts/bootstrap.sh >&2
	@snakemake -c$(CORES) -p $(DEMO_SNAPSHOTS) >&2
	@cat $(DEMO_SNAPSHOTS)

test: setup
	$(CHECKS)

# Not in .ci/run: shows what the next lock refresh would break, before it is made.
test-latest:
	scripts/bootstrap.sh --latest
	export PATH="$(CURDIR)/.venv-latest/bin:$$PATH"; $(CHECKS)

# The disarming live test over 30 s instead of make test's 5.
test-disarm-long: setup
	$(LIVE); GODI_DISARM_SECONDS=30 GODI_DISARM_EXITS=10 pytest -q tests/e2e/test_disarm_live.py

test-all-go:
	scripts/bootstrap.sh $(GO_ALL)
	$(LIVE); GODI_GO_VERSIONS="$(GO_ALL)" pytest

lock: setup
	scripts/lock.sh

lock-upgrade: setup
	scripts/lock.sh --upgrade

snakemake: setup
	snakemake -c$(CORES) -p

# -k: every probe set is checked, so one run shows every diff.
golden-check: setup
	snakemake -c$(CORES) -k golden_check

golden: setup
	snakemake -c$(CORES) -p golden

report: setup
	snakemake -c$(CORES)
	snakemake --report artifacts/report.html

lint: setup
	snakemake --lint

# Generated functions with random signatures, each call's values as the program
# sees them against godi's snapshots; a one-function reproducer per mismatch.
SEED ?= 1
N ?= 1000
GO ?= $(GO_ALL)
fuzz-abi: setup
	scripts/bootstrap.sh $(GO) >&2
	python tests/abi_fuzz/run.py --seed $(SEED) -n $(N) $(foreach g,$(GO),--go $(g))

# Real programs nobody here wrote (standard-library tests and commands) under probes.
test-real: setup
	$(LIVE); GODI_REAL_TESTS=1 pytest -q tests/real

clean:
	rm -rf artifacts
