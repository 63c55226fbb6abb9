# godi: the README's commands. Every target runs from the repository root with the
# project's virtualenv first on PATH, so `godi`, `snakemake`, `pytest`... are its own.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/.venv/bin:$(PATH)

CORES ?= 2
DEMO_TARGET := example-go1.27
DEMO_SNAPSHOTS := artifacts/$(DEMO_TARGET)/entry/snapshots.json
GO_ALL := $(shell cat scripts/go-versions-all.txt)

# Live (BPF) tests must run as root; elsewhere they skip with a reason.
# An explicit GODI_LIVE_TESTS in the environment wins.
LIVE := if [ "$$(id -u)" -eq 0 ]; then export GODI_LIVE_TESTS=$${GODI_LIVE_TESTS:-1}; fi

.PHONY: help setup demo test test-all-go snakemake lint clean

help:
	@echo "make setup        install BCC, kernel headers, .venv and the pinned Go toolchains"
	@echo "make demo         run the pipeline on the bundled example (Go 1.27) and print its snapshots"
	@echo "make test         schema drift check, ruff, mypy, pytest (live BPF tests when root)"
	@echo "make test-all-go  pytest against every Go of scripts/go-versions-all.txt"
	@echo "make snakemake    the pipeline for every target of config/config.yaml"
	@echo "make lint         snakemake --lint"
	@echo "make clean        remove artifacts/"

setup:
	scripts/bootstrap.sh

demo:
	@scripts/bootstrap.sh >&2
	@snakemake -c$(CORES) -p $(DEMO_SNAPSHOTS) >&2
	@cat $(DEMO_SNAPSHOTS)

test: setup
	godi schemas --check
	ruff check .
	ruff format --check .
	mypy
	$(LIVE); pytest

test-all-go:
	scripts/bootstrap.sh $(GO_ALL)
	$(LIVE); GODI_GO_VERSIONS="$(GO_ALL)" pytest

snakemake: setup
	snakemake -c$(CORES) -p

lint: setup
	snakemake --lint

clean:
	rm -rf artifacts
