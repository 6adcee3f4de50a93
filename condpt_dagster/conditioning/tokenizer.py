"""The conditioning tokenizer as data preparation and generation both use it.

Only a header's control tokens (those in ``special_tokens.json``, as the template placed them) become special
ids; everything else, the header's free text and the whole document, is encoded with
``encode_special_tokens = True``, so a control-token string inside a document or a label value
(``<|rating:R|>``, ``<|body|>``, ``<|endoftext|>``, or a base tokenizer's own ``</s>``) becomes ordinary
tokens and can never pose as a label. Templates render free text inert (``core.vocab.inert_text``), so a
control-token string in a header is always the template's own.

Files in ``tokenizer/`` (written by the ``tokenizer`` stage): ``tokenizer.json`` (Hugging Face ``tokenizers``
format; its sha256 identifies the tokenizer everywhere downstream) and ``special_tokens.json`` (eos, pad,
body and control tokens).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from condpt_dagster.core.hashing import file_sha256
from condpt_dagster.core.lake import TokenizerFiles
from condpt_dagster.core.vocab import BODY_TOKEN


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
