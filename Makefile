# condpt: `make demo` sets everything up and runs the pipeline on the sample corpus; `make test` tests it.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= $(CURDIR)/data
DEMO_DOCS ?= 1200
DEMO_SHARDS ?= 4
DEMO_TAGGED_DOCS ?= 240
UI_PORT ?= 3000
CONFIG ?= $(CURDIR)/configs/demo.toml
export CONDPT_DATA_ROOT := $(DATA)
export CONDPT_CONFIG := $(CONFIG)
export DAGSTER_HOME := $(DATA)/dagster_home
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# pip's own warnings (e.g. about the machine's index settings) stay out of the output; its errors still show.
PIP_QUIET ?= --quiet --quiet
# CPU build of torch where no NVIDIA GPU is present; a CUDA build from the index otherwise.
TORCH_SPEC ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo 'torch>=2.5' || echo 'torch==2.13.0')

STEER_DOCS ?= 4000
# Public-domain fiction passages added to the experiment's corpus (condpt sample --mix fiction=1; 0: none).
STEER_FICTION ?= 600
STEER_CONFIG ?= $(CURDIR)/configs/steer_cpu.toml
STEER_DATA ?= $(CURDIR)/data/$(basename $(notdir $(STEER_CONFIG)))

.PHONY: install demo test test-slow test-faults test-deploy test-bench lint ui shell clean-data bench experiment steer-pipeline

$(BIN)/condpt: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_QUIET) --upgrade pip
	$(BIN)/pip install $(PIP_QUIET) "$(TORCH_SPEC)"
	@# setuptools' "Editable installation" notice is a UserWarning of the build backend: not ours to show
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/pip install $(PIP_QUIET) -c requirements.lock -e ".[dev]"
	touch $@

install: $(BIN)/condpt

demo: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/condpt sample --docs $(DEMO_DOCS) --shards $(DEMO_SHARDS) --tagged-docs $(DEMO_TAGGED_DOCS)
	$(BIN)/condpt add-shards $(DATA)/inbox/sample-*.jsonl.gz
	$(BIN)/condpt materialize --select raw_documents,clean_documents,document_labels,conditioned_examples
	$(BIN)/condpt materialize --select tokenizer
	$(BIN)/condpt materialize --select token_blocks
	$(BIN)/condpt export blocks
	$(BIN)/condpt materialize --select checkpoint
	$(BIN)/condpt materialize --select eval_report
	$(BIN)/condpt experiment steer
	$(BIN)/condpt materialize --select labeler_adapter
	$(BIN)/condpt materialize --select label_audit
	$(BIN)/condpt audit removed --by reason
	$(BIN)/condpt audit tags --top 10
	$(BIN)/condpt audit lineage --checkpoint demo
	$(BIN)/condpt generate --checkpoint demo --rating PG --format review --topics entertainment --tags "acting,plot" "The film"
	@echo
	@echo "Outputs under $(DATA): raw/, quarantine/, clean/ + removed/ (corpus hygiene), labels/, conditioned/ (Parquet per shard), tokenizer/, blocks/, exports/ (Megatron-LM and Hugging Face datasets), checkpoints/demo/ (hf/ export, manifest.json, loss.png), experiments/demo-steer/ (report.html; make experiment for the CPU preset), labeler_adapter/, audit.duckdb (condpt audit --help)."
	@echo "Open the Dagster UI with: make ui   (http://127.0.0.1:3000, runs and partitions persist in $(DAGSTER_HOME))"

# The steering experiment's CPU preset on its own lake: label a larger sample, build blocks, run the experiment.
experiment: install
	$(BIN)/pip install $(PIP_QUIET) -c requirements.lock -e ".[dev,fiction]"
	$(MAKE) --no-print-directory steer-pipeline DATA=$(STEER_DATA) CONFIG=$(abspath $(STEER_CONFIG))

steer-pipeline:
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/condpt sample --docs $(STEER_DOCS) --shards 8 --tagged-docs 0
	$(if $(filter-out 0,$(STEER_FICTION)),$(BIN)/condpt sample --docs $(STEER_FICTION) --shards 2 --prefix fiction \
		--mix fiction=1)
	$(BIN)/condpt add-shards $(DATA)/inbox/*.jsonl.gz
	$(BIN)/condpt materialize --select raw_documents,clean_documents,document_labels,conditioned_examples
	$(BIN)/condpt materialize --select tokenizer
	$(BIN)/condpt materialize --select token_blocks
	$(BIN)/condpt experiment steer

test: install
	$(BIN)/pytest

test-slow: install
	$(BIN)/pytest -m "slow or not slow"

test-faults: install
	$(BIN)/pytest -m faults

# The production deployment with real services (PostgreSQL, code server, webserver, daemon); needs Debian's
# postgresql (.ci/run installs it).
test-deploy: install
	$(BIN)/pytest -m deploy

# Every benchmark at its smoke size (tests/bench/test_smoke.py), so none rots unnoticed.
test-bench: install
	$(BIN)/pip install $(PIP_QUIET) -c requirements.lock -e ".[dev,bench]"
	$(BIN)/pytest -m bench

lint: install
	$(BIN)/ruff check condpt_dagster tests bench tools harness

ui: install
	$(BIN)/python -c "from pathlib import Path; from condpt_dagster.instance.config import ensure_instance_config as e; e(Path('$(DAGSTER_HOME)'))"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

# A shell in the demo's world: the venv on PATH and the demo's settings, lake and Dagster instance, so the
# README's bare `condpt ...` commands work as written; `make shell CMD="condpt experiment show"` runs one.
shell:
	@test -x $(BIN)/condpt || $(MAKE) --no-print-directory install
	@echo "condpt shell: CONDPT_CONFIG=$(CONFIG), lake $(DATA); exit to leave" >&2
	@PATH="$(abspath $(BIN)):$$PATH" VIRTUAL_ENV="$(abspath $(VENV))" $(if $(CMD),bash -c '$(CMD)',$${SHELL:-bash} -i)

bench: install
	$(BIN)/pip install $(PIP_QUIET) -c requirements.lock -e ".[dev,bench]"
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.dedup
	OMP_NUM_THREADS=1 POLARS_MAX_THREADS=1 taskset -c 0 $(BIN)/python -m bench.clean
	$(BIN)/python -m bench.label
	$(BIN)/python -m bench.tokenize_blocks
	$(BIN)/python -m bench.export
	$(BIN)/python -m bench.train
	$(BIN)/python -m bench.finetune
	$(BIN)/python -m bench.eval_report --data $(DATA) --run demo
	$(BIN)/python -m bench.audit

clean-data:
	rm -rf $(DATA)
