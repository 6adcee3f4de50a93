"""Stage ``tokenizer``: byte-level BPE trained on conditioned examples, or a local base model's tokenizer, with
EOS, PAD, the body separator and every control token registered as special tokens.

Only a header's control tokens (those in ``special_tokens.json``, as the template placed them) become special
ids; everything else, the header's free text and the whole document, is encoded with
``encode_special_tokens = True``, so a control-token string inside a document or a label value
(``<|rating:R|>``, ``<|body|>``, ``<|endoftext|>``, or a base tokenizer's own ``</s>``) becomes ordinary
tokens and can never pose as a label. Templates render free text inert (``core.vocab.inert_text``), so a
control-token string in a header is always the template's own.

Files in ``tokenizer/``: ``tokenizer.json`` (Hugging Face ``tokenizers`` format; its sha256 identifies the
tokenizer everywhere downstream) and ``special_tokens.json`` (eos, pad, body and control tokens).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from condpt_dagster.core.hashing import config_version, file_sha256
from condpt_dagster.core.io import atomic_output, atomic_write_text
from condpt_dagster.core.lake import DataLake, TokenizerFiles
from condpt_dagster.core.settings import TokenizerOptions
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


def tokenizer_sha256(tokenizer_dir: str | os.PathLike[str]) -> str:
    return file_sha256(TokenizerFiles(Path(tokenizer_dir)).tokenizer_json)


@dataclass
class EncodedDocs:
    header_ids: list[list[int]]
    body_ids: list[list[int]]


class ConditionTokenizer:
    """Encodes (header, text) pairs: the header's control tokens, ``<|body|>``, and no other special token."""

    def __init__(self, tokenizer_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(tokenizer_dir)
        files = TokenizerFiles(self.dir)
        path = files.tokenizer_json
        if not path.is_file():
            raise FileNotFoundError(f"{self.dir}: no tokenizer.json; materialize the `tokenizer` asset first")
        self.header_tok = Tokenizer.from_file(str(path))
        self.body_tok = Tokenizer.from_file(str(path))
        self.body_tok.encode_special_tokens = True  # text never yields special tokens
        specials = json.loads(files.special_tokens.read_text(encoding="utf-8"))
        self.controls: list[str] = specials["controls"]
        self.eos_id = self._id(specials["eos"])
        self.pad_id = self._id(specials["pad"])
        self.body_id = self._id(specials["body"])
        self.sha256 = tokenizer_sha256(self.dir)
        self.vocab_size = self.header_tok.get_vocab_size()
        self.special_ids = sorted({self._id(t) for t in (specials["eos"], specials["pad"], *self.controls)})
        self._control_ids = {token: self._id(token) for token in {*self.controls, specials["body"]}}
        by_length = sorted(self._control_ids, key=len, reverse=True)  # the longest token wins at one position
        self._control_split = re.compile("(" + "|".join(map(re.escape, by_length)) + ")")
        self._other_added_ids = set(self.header_tok.get_added_tokens_decoder()) - set(self._control_ids.values())

    def _id(self, token: str) -> int:
        token_id = self.header_tok.token_to_id(token)
        if token_id is None:
            raise ValueError(f"{self.dir}/tokenizer.json lacks special token {token!r}")
        return token_id

    def encode_headers(self, headers: Sequence[str]) -> list[list[int]]:
        """Each header + ``<|body|>``: control tokens as their ids, the text between them with no special token.

        Fast path: the whole batch with added tokens recognized (templates render free text inert, so every
        control-token string in a header is the template's own); a header where any other added token was
        recognized (a base tokenizer's ``</s>`` in a synopsis, a stray ``<|endoftext|>``) is encoded again
        piece by piece."""
        texts = [h + BODY_TOKEN for h in headers]
        ids = [e.ids for e in self.header_tok.encode_batch(texts, add_special_tokens=False)]
        for i, row in enumerate(ids):
            if not self._other_added_ids.isdisjoint(row):
                ids[i] = self._encode_controls_only(texts[i])
        return ids

    def _encode_controls_only(self, header: str) -> list[int]:
        pieces = self._control_split.split(header)  # text, control, text, control, ..., text
        row: list[int] = []
        for i, piece in enumerate(pieces):
            if i % 2:
                row.append(self._control_ids[piece])
            elif piece:
                row += self.body_tok.encode(piece, add_special_tokens=False).ids
        return row

    def encode_docs(self, headers: Sequence[str], texts: Sequence[str]) -> EncodedDocs:
        """Header ids end with the body separator; body ids never contain a special token."""
        body_enc = self.body_tok.encode_batch(list(texts), add_special_tokens=False)
        return EncodedDocs(self.encode_headers(headers), [e.ids for e in body_enc])

    def decode(self, ids: Sequence[int]) -> str:
        return self.header_tok.decode(list(ids), skip_special_tokens=False)


def build_tokenizer(
    examples: Iterable[tuple[str, str]], out_dir: str | os.PathLike[str], options: TokenizerOptions
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
    lake: DataLake, options: TokenizerOptions, log: Callable[[str], None] = print
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
