"""token_blocks core vs raw ``Tokenizer.encode_batch`` vs datatrove's ``DocumentTokenizer``, same texts.

    python -m bench.tokenize [--docs 20000] [--block-size 2048]

Builds a conditioned shard from the sample corpus (a laion-style header per document from its sample
metadata), trains the project tokenizer on it (8,192 tokens), then times in one run, best of 3:
1. ``pack_shard``: header/body encoding with control-token protection, packing, loss mask, spans, files;
2. the same with headers encoded as before issue 28 (every added token recognized: the cost of the header
   protection, ``ConditionTokenizer.encode_headers``);
3. ``Tokenizer.encode_batch`` of ``header + <|body|> + text`` (nothing else);
4. datatrove ``DocumentTokenizer`` on the same strings (no shuffling), writing its token files.
datatrove is a main dependency (clean_documents uses its quality filters).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.lake import BlockFiles
from condpt_dagster.core.settings import BlocksSettings, IngestSettings, TokenizerSettings
from condpt_dagster.core.vocab import BODY_TOKEN
from condpt_dagster.sample_corpus import ensure_sample_wheels, sample_documents
from condpt_dagster.stages.raw_documents import normalize_texts
from condpt_dagster.stages.token_blocks import pack_shard
from condpt_dagster.stages.tokenizer import build_tokenizer

REPO = Path(__file__).resolve().parents[1]


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


class UnprotectedHeaders(ConditionTokenizer):
    """Headers encoded with every added token recognized, as before issue 28 (spoofable: reference only)."""

    def encode_headers(self, headers):
        texts = [h + BODY_TOKEN for h in headers]
        return [e.ids for e in self.header_tok.encode_batch(texts, add_special_tokens=False)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--block-size", type=int, default=2048)
    args = parser.parse_args()
    wheels = REPO / ".cache" / "sample_wheels"
    ensure_sample_wheels(wheels)
    work = Path(tempfile.mkdtemp(prefix="bench_tokenize_"))
    docs = sample_documents(wheels, args.docs, seed=3)
    texts = normalize_texts([d["text"] for d in docs], IngestSettings())
    headers = [
        f"[ {d['meta'].get('sentiment', 'G')}, {d['meta']['domain']} ]\n# {t[:80]}\n"
        for d, t in zip(docs, texts, strict=True)
    ]
    ids = [d["id"] for d in docs]
    pq.write_table(pa.table({"id": ids, "header": headers, "text": texts}), work / "cond.parquet")
    build_tokenizer(zip(headers, texts, strict=True), work / "tok", TokenizerSettings(vocab_size=8192))
    tok = ConditionTokenizer(work / "tok")
    size_mb = sum(len(t) for t in texts) / 1e6
    print(f"{len(texts):,} docs, {size_mb:.1f} MB of text, block size {args.block_size}")

    options = BlocksSettings(block_size=args.block_size, heldout_fraction=0.0, batch_docs=2048)
    t_ours, stats = best_of(lambda: pack_shard(work / "cond.parquet", tok, BlockFiles(work / "blocks", "s"), options))
    tokens = stats.tokens  # type: ignore[union-attr]
    unprotected = UnprotectedHeaders(work / "tok")
    t_before, _ = best_of(
        lambda: pack_shard(work / "cond.parquet", unprotected, BlockFiles(work / "before", "s"), options)
    )
    joined = [h + BODY_TOKEN + t for h, t in zip(headers, texts, strict=True)]
    t_raw, encoded = best_of(lambda: tok.header_tok.encode_batch(joined, add_special_tokens=False))
    raw_tokens = sum(len(e.ids) for e in encoded) + len(joined)  # + EOS per document, as packed
    rows = [
        ("token_blocks core (pack_shard)", t_ours, tokens),
        ("pack_shard, headers unprotected", t_before, tokens),
        ("Tokenizer.encode_batch only", t_raw, raw_tokens),
    ]

    try:
        from datatrove.data import Document
        from datatrove.pipeline.tokens import DocumentTokenizer
    except ImportError:
        DocumentTokenizer = None
        print("datatrove not installed (pip install -e '.[bench]'): skipping its column")
    if DocumentTokenizer is not None:

        def run_datatrove():
            out = work / "datatrove"
            shutil.rmtree(out, ignore_errors=True)
            step = DocumentTokenizer(
                str(out),
                tokenizer_name_or_path=str(work / "tok" / "tokenizer.json"),
                eos_token="<|endoftext|>",
                shuffle_documents=False,
                batch_size=2048,
            )
            step.run((Document(text=j, id=i) for i, j in zip(ids, joined, strict=True)), rank=0, world_size=1)

        t_dt, _ = best_of(run_datatrove)
        rows.append(("datatrove DocumentTokenizer", t_dt, raw_tokens))

    for name, seconds, n in rows:
        print(f"{name:34s} {seconds:6.2f}s  {n / seconds:12,.0f} tokens/s")
    print(f"ratio token_blocks / raw encode_batch: {(tokens / t_ours) / (raw_tokens / t_raw):.2f}x")
    print(f"ratio header protection on / off: {t_before / t_ours:.2f}x")
    if DocumentTokenizer is not None:
        print(f"ratio token_blocks / datatrove: {(tokens / t_ours) / (raw_tokens / t_dt):.2f}x")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
