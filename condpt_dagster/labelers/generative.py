"""The ``generative`` labeler: the reference approach, a local seq2seq or causal LM (optionally with a peft
LoRA adapter) prompted to write tags, a rating and a one-line synopsis.

Zero-shot sampling recipe: the document is read in overlapping windows of ``window_words`` words; for each
window ``num_samples`` answers are sampled; each answer's mean token log-probability is its confidence. A
tag is kept if it appears in at least ``min_support`` of the answers, ranked by the mean log-probability
of the answers that contain it; generic tags are dropped. The rating is the confidence-weighted vote, the
synopsis comes from the most confident answer that has one. Output that cannot be parsed is recorded in
the row's ``error`` and the rule taggers' values are used; it never raises.

Language, length and readability always come from the rule taggers (rules.py).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import torch

from condpt_dagster.core.hashing import cached_sha256, file_sha256
from condpt_dagster.core.vocab import FORMATS
from condpt_dagster.labelers import rules
from condpt_dagster.labelers.base import DocumentLabels, Labeler, one_line, rule_based_labels

DEFAULT_PROMPT = (
    "Read the document and label it.\n"
    "Answer with a line of comma-separated tags in square brackets, a line 'rating: G, PG, PG-13 or R', "
    "and a one-sentence synopsis on a line starting with '#'.\n\n"
    "Document:\n{text}\n\nLabels:\n"
)
DEFAULT_GENERIC_TAGS = ("article", "text", "document", "story", "news", "review", "post", "content", "blog", "misc")
_RATING = re.compile(r"\b(NC-17|PG-13|PG13|PG 13|PG|G|R|X)\b")
_RATING_LINE = re.compile(r"(?im)^\W*(?:content\s+)?(?:rating|rated)\W*(.+)$")
_FIELD_LINE = re.compile(r"(?im)^\W*(tags|keywords|topics|sentiment|format|genre|synopsis|summary)\s*[:=]\s*(.+)$")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_HASH_LINE = re.compile(r"(?m)^\s*#+\s*(.+)$")


@dataclass
class ParsedLabels:
    tags: list[str] = field(default_factory=list)
    rating: str | None = None
    sfw: bool | None = None
    synopsis: str | None = None
    topics: list[str] = field(default_factory=list)
    sentiment: str | None = None
    format: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.tags or self.rating or self.synopsis)


def _normalize_rating(value: str) -> str | None:
    match = _RATING.search(value.upper())
    if not match:
        return None
    found = match.group(1).replace(" ", "-")
    return {"PG13": "PG-13", "NC-17": "R", "X": "R"}.get(found, found)


def _normalize_format(value: str) -> str | None:
    """A model's format answer as one of ``FORMATS`` ("Fiction", "personal blog" -> fiction, personal-blog)."""
    slug = "-".join(value.strip().lower().replace("_", " ").split()).strip(".,")
    return slug if slug in FORMATS else None


def _split_list(value: str) -> list[str]:
    items = re.split(r"[,;|]", value)
    out: list[str] = []
    for item in items:
        tag = item.strip().strip("\"'`*-• ").strip()
        if tag and len(tag) <= 60 and tag.lower() not in (t.lower() for t in out):
            out.append(tag)
    return out


def _from_json(text: str) -> ParsedLabels | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = orjson.loads(text[start : end + 1])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None

    def as_list(v: Any) -> list[str]:
        return _split_list(",".join(map(str, v))) if isinstance(v, list) else _split_list(str(v)) if v else []

    sfw = value.get("sfw")
    return ParsedLabels(
        tags=as_list(value.get("tags") or value.get("keywords")),
        rating=_normalize_rating(str(value.get("rating", ""))),
        sfw=sfw if isinstance(sfw, bool) else None,
        synopsis=str(value["synopsis"]).strip() if value.get("synopsis") else None,
        topics=as_list(value.get("topics")),
        sentiment=str(value["sentiment"]).lower() if value.get("sentiment") else None,
        format=_normalize_format(str(value.get("format") or value.get("genre") or "")),
    )


def parse_label_output(text: str) -> ParsedLabels:
    """Tolerant parse of a labeler model's answer: the reference ``[ tags ]`` / ``# synopsis`` format,
    ``key: value`` lines, or a JSON object. Missing parts stay None/empty."""
    parsed = _from_json(text)
    if parsed is not None and not parsed.empty:
        return parsed
    parsed = ParsedLabels()
    for key, value in _FIELD_LINE.findall(text):
        key = key.lower()
        if key in ("tags", "keywords") and not parsed.tags:
            parsed.tags = _split_list(value.strip().strip("[]"))
        elif key == "topics":
            parsed.topics = _split_list(value.strip().strip("[]"))
        elif key == "sentiment":
            parsed.sentiment = value.strip().split()[0].lower().strip(".,")
        elif key in ("format", "genre"):
            parsed.format = _normalize_format(value)
        elif key in ("synopsis", "summary") and not parsed.synopsis:
            parsed.synopsis = value.strip()
    if not parsed.tags:
        bracket = _BRACKETS.search(text)
        if bracket:
            parsed.tags = _split_list(bracket.group(1))
    rating_line = _RATING_LINE.search(text)
    parsed.rating = _normalize_rating(rating_line.group(1)) if rating_line else None
    if re.search(r"\bNSFW\b", text, re.I):
        parsed.sfw = False
    elif re.search(r"\bSFW\b", text, re.I):
        parsed.sfw = True
    if not parsed.synopsis:
        hashed = _HASH_LINE.search(text)
        if hashed:
            parsed.synopsis = hashed.group(1).strip()
    return parsed


@dataclass(frozen=True)
class GenerativeSettings:
    model_dir: str
    adapter_dir: str | None = None  # a peft LoRA adapter saved with save_pretrained
    prompt: str = DEFAULT_PROMPT  # must contain {text}
    window_words: int = 2000
    window_overlap: int = 200
    max_windows: int = 3
    max_input_tokens: int = 2048
    num_samples: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 96
    min_support: float = 0.5  # share of answers a tag must appear in
    max_tags: int = 8
    generic_tags: tuple[str, ...] = DEFAULT_GENERIC_TAGS
    seed: int = 0
    device: str = "cpu"


@dataclass
class _Sample:
    parsed: ParsedLabels
    logprob: float  # mean log-probability per generated token
    raw: str


def text_windows(text: str, size: int, overlap: int, limit: int) -> list[str]:
    """Overlapping word windows, at most ``limit`` of them, spread over the document."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)]
    step = max(1, size - overlap)
    starts = list(range(0, len(words) - overlap, step))
    if len(starts) > limit:
        starts = [starts[round(i * (len(starts) - 1) / (limit - 1))] for i in range(limit)] if limit > 1 else [0]
    return [" ".join(words[s : s + size]) for s in starts]


class GenerativeLabeler(Labeler):
    name = "generative"
    revision = "1"

    def __init__(self, config: GenerativeSettings) -> None:
        if "{text}" not in config.prompt:
            raise ValueError("generative labeler: prompt must contain {text}")
        self.config = config
        self.model_dir = Path(config.model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise FileNotFoundError(f"generative labeler: {self.model_dir} is not a Hugging Face model folder")
        if config.adapter_dir and not (Path(config.adapter_dir) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"generative labeler: {config.adapter_dir} has no adapter_config.json")
        self._model: Any = None
        self._tokenizer: Any = None

    def fingerprint(self) -> dict[str, Any]:
        folders = [self.model_dir] + ([Path(self.config.adapter_dir)] if self.config.adapter_dir else [])
        files = sorted(
            p
            for d in folders
            for p in d.iterdir()
            if p.suffix in (".safetensors", ".json", ".model") and not p.name.startswith(".")
        )
        return {
            "config": {k: v for k, v in asdict(self.config).items() if k not in ("model_dir", "adapter_dir", "device")},
            "files": {f"{p.parent.name}/{p.name}": cached_sha256(p) for p in files},
            "rating_rules_sha256": file_sha256(rules.RATING_RULES),
        }

    def _load(self) -> None:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        model_config = AutoConfig.from_pretrained(self.model_dir, local_files_only=True)
        self.seq2seq = bool(model_config.is_encoder_decoder)
        auto = AutoModelForSeq2SeqLM if self.seq2seq else AutoModelForCausalLM
        model = auto.from_pretrained(self.model_dir, local_files_only=True, use_safetensors=True)
        if self.config.adapter_dir:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, self.config.adapter_dir, is_trainable=False)
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"  # causal generation continues from the right end
        self._model = model.to(self.config.device).eval()
        self._tokenizer = tokenizer

    @torch.inference_mode()
    def _sample(self, prompt: str) -> list[_Sample]:
        cfg, tok = self.config, self._tokenizer
        inputs = tok(prompt, return_tensors="pt", truncation=True, max_length=cfg.max_input_tokens).to(cfg.device)
        out = self._model.generate(
            **inputs,
            do_sample=True,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            num_return_sequences=cfg.num_samples,
            max_new_tokens=cfg.max_new_tokens,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=tok.pad_token_id,
        )
        generated = out.sequences if self.seq2seq else out.sequences[:, inputs["input_ids"].shape[1] :]
        transition = self._model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        samples = []
        for row, scores in zip(generated, transition, strict=True):
            tokens = row[-scores.shape[0] :]
            keep = (tokens != tok.pad_token_id) & torch.isfinite(scores)
            logprob = float(scores[keep].mean()) if keep.any() else -math.inf
            raw = tok.decode(row, skip_special_tokens=True)
            samples.append(_Sample(parse_label_output(raw), logprob, raw))
        return samples

    def label(self, texts: Sequence[str]) -> list[DocumentLabels]:
        if self._model is None:
            self._load()
        torch.manual_seed(self.config.seed)
        out = []
        for text in texts:
            windows = text_windows(text, self.config.window_words, self.config.window_overlap, self.config.max_windows)
            samples = [s for w in windows if w for s in self._sample(self.config.prompt.format(text=w))]
            out.append(self._aggregate(text, samples))
        return out

    def _aggregate(self, text: str, samples: list[_Sample]) -> DocumentLabels:
        labels = rule_based_labels(text, "unknown")
        good = [s for s in samples if not s.parsed.empty]
        if not good:
            example = samples[0].raw[:200] if samples else ""
            labels.error = f"unparseable labeler output ({len(samples)} samples), e.g. {example!r}"
            return labels
        by_tag: dict[str, list[float]] = defaultdict(list)
        votes: dict[str, float] = defaultdict(float)
        generic = {g.lower() for g in self.config.generic_tags}
        for s in good:
            for tag in {t.lower() for t in s.parsed.tags} - generic:
                by_tag[tag].append(s.logprob)
            if s.parsed.rating:
                votes[s.parsed.rating] += math.exp(s.logprob)
        need = max(1, math.ceil(self.config.min_support * len(good)))
        ranked = sorted(
            ((tag, sum(lps) / len(lps)) for tag, lps in by_tag.items() if len(lps) >= need), key=lambda kv: -kv[1]
        )[: self.config.max_tags]
        labels.tags = [tag for tag, _ in ranked]
        labels.scores.update({f"tag:{tag}": round(lp, 4) for tag, lp in ranked})
        if votes:
            labels.rating = max(votes, key=votes.__getitem__)
            labels.sfw = labels.rating != "R"
        best = max(good, key=lambda s: s.logprob)
        explicit_sfw = [s.parsed.sfw for s in good if s.parsed.sfw is not None]
        if explicit_sfw:
            labels.sfw = sum(explicit_sfw) * 2 >= len(explicit_sfw)
        with_synopsis = [s for s in good if s.parsed.synopsis]
        if with_synopsis:
            labels.synopsis = one_line(max(with_synopsis, key=lambda s: s.logprob).parsed.synopsis or "")
        labels.topics = best.parsed.topics
        labels.sentiment = best.parsed.sentiment or "unknown"
        labels.format = best.parsed.format or "unknown"
        labels.scores["answer_logprob"] = round(best.logprob, 4)
        return labels
