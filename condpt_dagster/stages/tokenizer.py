"""Stage ``tokenizer``: byte-level BPE trained on conditioned examples, or a local base model's tokenizer, with
EOS, PAD, the body separator and every control token registered as special tokens.

How the files are read and why document text can never become a control token: ``conditioning/tokenizer.py``.

Files in ``tokenizer/``: ``tokenizer.json`` (Hugging Face ``tokenizers`` format; its sha256 identifies the
tokenizer everywhere downstream) and ``special_tokens.json`` (eos, pad, body and control tokens).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow.parquet as pq
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from condpt_dagster.conditioning.tokenizer import ConditionTokenizer, tokenizer_sha256
from condpt_dagster.core.hashing import config_version
from condpt_dagster.core.io import atomic_output, atomic_write_text
from condpt_dagster.core.lake import DataLake, TokenizerFiles
from condpt_dagster.core.settings import TokenizerSettings
from condpt_dagster.core.vocab import (
    BODY_TOKEN,
    EOS,
    FORMATS,
    LENGTHS,
    MARKERS,
    PAD,
    RATINGS,
    SENTIMENTS,
    UNDETERMINED_LANGUAGE,
    control_vocabulary,
)

# Bump when training or extension changes the tokenizer for the same examples and options.
REVISION = "1"


def code_revision() -> str:
    """``REVISION`` and the closed label vocabularies its control tokens come from (core/vocab.py): a new
    format or rating value makes the tokenizer stale, so it is retrained with a control token for it."""
    closed = {"rating": RATINGS, "format": FORMATS, "sentiment": SENTIMENTS, "length": LENGTHS}
    return f"{REVISION}-{config_version('vocab', {**closed, 'markers': [BODY_TOKEN, *MARKERS]})[:8]}"


def default_control_vocabulary() -> list[str]:
    """Control tokens for the built-in taxonomy's topics and every language py3langid can return."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from condpt_dagster.labelers.taxonomy import TAXONOMY, Taxonomy

    languages = LanguageIdentifier.from_model_file(MODEL_FILE).labels
    return control_vocabulary(Taxonomy(TAXONOMY).topics, [*sorted(languages), UNDETERMINED_LANGUAGE])


def _special(tokens: Sequence[str]) -> list[AddedToken]:
    return [AddedToken(t, special=True, normalized=False) for t in tokens]


def train_bpe(texts: Iterable[str], vocab_size: int, controls: Sequence[str]) -> Tokenizer:
    """Byte-level BPE with EOS, PAD and the control tokens as special tokens (ids 0, 1, 2, ...)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_special([EOS, PAD, *controls]),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def extend_base_tokenizer(base_dir: str | os.PathLike[str], controls: Sequence[str]) -> Tokenizer:
    """A local base model's tokenizer.json with PAD (if missing) and the control tokens added."""
    path = TokenizerFiles(Path(base_dir)).tokenizer_json
    if not path.is_file():
        raise FileNotFoundError(f"{base_dir}: no tokenizer.json (a fast Hugging Face tokenizer is required)")
    tok = Tokenizer.from_file(str(path))
    vocab = tok.get_vocab()
    extra = [t for t in (EOS, PAD) if t not in vocab]
    tok.add_special_tokens(_special([*extra, *controls]))
    return tok


def save_tokenizer(tok: Tokenizer, out_dir: str | os.PathLike[str], controls: Sequence[str]) -> str:
    """Write special_tokens.json then tokenizer.json, each atomically; return tokenizer.json's sha256."""
    files = TokenizerFiles(Path(out_dir))
    specials = {"eos": EOS, "pad": PAD, "body": BODY_TOKEN, "controls": list(controls)}
    atomic_write_text(files.special_tokens, json.dumps(specials, indent=1))
    with atomic_output(files.tokenizer_json) as tmp:
        tok.save(str(tmp))
    return tokenizer_sha256(out_dir)


def build_tokenizer(
    examples: Iterable[tuple[str, str]], out_dir: str | os.PathLike[str], options: TokenizerSettings
) -> str:
    """Train (or extend) and save the tokenizer from (header, text) examples; return its sha256."""
    controls = default_control_vocabulary()
    if options.base_tokenizer_dir:
        tok = extend_base_tokenizer(options.base_tokenizer_dir, controls)
    else:
        tok = train_bpe((h + BODY_TOKEN + t for h, t in examples), options.vocab_size, controls)
    return save_tokenizer(tok, out_dir, controls)


def sample_examples(files: Sequence[Path], limit: int) -> Iterator[tuple[str, str]]:
    """Up to ``limit`` (header, text) pairs spread evenly over conditioned shards."""
    if not files:
        raise FileNotFoundError("no conditioned examples; materialize conditioned_examples first")
    per_file = max(1, limit // len(files))
    for path in files:
        table = pq.read_table(path, columns=["header", "text"]).slice(0, per_file)
        yield from zip(table.column("header").to_pylist(), table.column("text").to_pylist(), strict=True)


def train_tokenizer(
    lake: DataLake, options: TokenizerSettings, log: Callable[[str], None] = print
) -> ConditionTokenizer:
    """Build the lake's tokenizer from its conditioned shards (or extend a base model's) and load it."""
    examples: Iterable[tuple[str, str]] = []
    if not options.base_tokenizer_dir:
        files = lake.conditioned_files()
        if not files:
            raise FileNotFoundError(f"{lake.conditioned_dir}: no conditioned examples; materialize them first")
        log(f"training tokenizer on up to {options.sample_docs} examples from {len(files)} shard(s)")
        examples = sample_examples(files, options.sample_docs)
    build_tokenizer(examples, lake.tokenizer_dir, options)
    return ConditionTokenizer(lake.tokenizer_dir)
