"""The tokenizer: byte-level BPE trained on conditioned examples, or a local base model's tokenizer, with
EOS, PAD, the body separator and every control token registered as special tokens.

Headers are encoded with special tokens recognized; document text is encoded with
``encode_special_tokens = True``, so a control-token string inside a document (``<|rating:R|>``,
``<|body|>``, ``<|endoftext|>``) becomes ordinary byte-level tokens and can never pose as a label.

Files in ``tokenizer/``: ``tokenizer.json`` (Hugging Face ``tokenizers`` format; its sha256 identifies the
tokenizer everywhere downstream) and ``special_tokens.json`` (eos, pad, body and control tokens).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from condpt_dagster.condition import BODY_TOKEN, control_token
from condpt_dagster.lake import atomic_output, file_sha256

EOS = "<|endoftext|>"
PAD = "<|pad|>"
MARKERS = ("<|tags|>", "<|synopsis|>")
RATINGS = ("G", "PG", "PG-13", "R")
SENTIMENTS = ("positive", "negative", "neutral", "unknown")
LENGTHS = ("short", "medium", "long", "very long")


def control_vocabulary(topics: Iterable[str], languages: Iterable[str]) -> list[str]:
    """Every special token the templates can emit, in a stable order."""
    closed = {
        "rating": RATINGS,
        "sfw": (True, False),
        "sentiment": SENTIMENTS,
        "length": LENGTHS,
        "topic": tuple(topics),
        "language": tuple(languages),
    }
    return [BODY_TOKEN, *MARKERS] + [control_token(f, v) for f, values in closed.items() for v in values]


def default_control_vocabulary() -> list[str]:
    """Control tokens for the built-in taxonomy's topics and every language py3langid can return."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from condpt_dagster.labelers.taxonomy import TAXONOMY, Taxonomy

    languages = LanguageIdentifier.from_model_file(MODEL_FILE).labels
    return control_vocabulary(Taxonomy(TAXONOMY).topics, [*sorted(languages), "und"])


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
    path = Path(base_dir) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{base_dir}: no tokenizer.json (a fast Hugging Face tokenizer is required)")
    tok = Tokenizer.from_file(str(path))
    vocab = tok.get_vocab()
    extra = [t for t in (EOS, PAD) if t not in vocab]
    tok.add_special_tokens(_special([*extra, *controls]))
    return tok


def save_tokenizer(tok: Tokenizer, out_dir: str | os.PathLike[str], controls: Sequence[str]) -> str:
    """Write special_tokens.json then tokenizer.json, each atomically; return tokenizer.json's sha256."""
    out = Path(out_dir)
    specials = {"eos": EOS, "pad": PAD, "body": BODY_TOKEN, "controls": list(controls)}
    with atomic_output(out / "special_tokens.json") as tmp:
        tmp.write_text(json.dumps(specials, indent=1), encoding="utf-8")
    with atomic_output(out / "tokenizer.json") as tmp:
        tok.save(str(tmp))
    return tokenizer_sha256(out)


def tokenizer_sha256(tokenizer_dir: str | os.PathLike[str]) -> str:
    return file_sha256(Path(tokenizer_dir) / "tokenizer.json")


@dataclass
class EncodedDocs:
    header_ids: list[list[int]]
    body_ids: list[list[int]]


class ConditionTokenizer:
    """Encodes (header, text) pairs: header with control tokens, ``<|body|>``, then text with none."""

    def __init__(self, tokenizer_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(tokenizer_dir)
        path = self.dir / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"{self.dir}: no tokenizer.json; materialize the `tokenizer` asset first")
        self.header_tok = Tokenizer.from_file(str(path))
        self.body_tok = Tokenizer.from_file(str(path))
        self.body_tok.encode_special_tokens = True  # text never yields special tokens
        specials = json.loads((self.dir / "special_tokens.json").read_text(encoding="utf-8"))
        self.controls: list[str] = specials["controls"]
        self.eos_id = self._id(specials["eos"])
        self.pad_id = self._id(specials["pad"])
        self.body_id = self._id(specials["body"])
        self.sha256 = tokenizer_sha256(self.dir)
        self.vocab_size = self.header_tok.get_vocab_size()
        self.special_ids = sorted({self._id(t) for t in (specials["eos"], specials["pad"], *self.controls)})

    def _id(self, token: str) -> int:
        token_id = self.header_tok.token_to_id(token)
        if token_id is None:
            raise ValueError(f"{self.dir}/tokenizer.json lacks special token {token!r}")
        return token_id

    def encode_docs(self, headers: Sequence[str], texts: Sequence[str]) -> EncodedDocs:
        """Header ids end with the body separator; body ids never contain a special token."""
        header_enc = self.header_tok.encode_batch([h + BODY_TOKEN for h in headers], add_special_tokens=False)
        body_enc = self.body_tok.encode_batch(list(texts), add_special_tokens=False)
        return EncodedDocs([e.ids for e in header_enc], [e.ids for e in body_enc])

    def decode(self, ids: Sequence[int]) -> str:
        return self.header_tok.decode(list(ids), skip_special_tokens=False)


@dataclass(frozen=True)
class TokenizerOptions:
    vocab_size: int = 8192
    sample_docs: int = 20_000  # conditioned examples the BPE is trained on (spread over shards)
    base_tokenizer_dir: str | None = None  # a local base model folder: reuse its tokenizer instead

    def version(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()[:16]


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
