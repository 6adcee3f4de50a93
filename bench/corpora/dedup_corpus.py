"""The near-duplicate benchmark corpus: real documents, distinct synthetic ones, and planted near-duplicates.

- originals: every IMDB review and news article of the sample wheels with >= 50 words (normalized as
  ingestion does), topped up to ``originals`` with synthetic documents of 8-14 sentences drawn at random from
  the pool of all their sentences (distinct, but written in the same language);
- planted: for ``planted`` originals chosen at random, a copy with 5-20% of its words edited (substituted,
  deleted or followed by an inserted word, replacements drawn from the corpus vocabulary), its paragraphs
  reordered (single-paragraph texts are cut into 3-sentence paragraphs first) with probability 0.5, and a
  boilerplate block (navigation, cookie, subscription text) added at the start or end with probability 0.5.

Everything is shuffled and cut into shards. ``truth[planted id] = original id``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from condpt_dagster.core.settings import IngestSettings
from condpt_dagster.sample_corpus import iter_news, iter_reviews
from condpt_dagster.stages.raw_documents import normalize_texts

SENTENCE = re.compile(r"(?<=[.!?])\s+")
BOILERPLATE = [
    "Subscribe to our newsletter to get the latest stories delivered to your inbox every morning. "
    "You can unsubscribe at any time. Read our privacy policy and terms of service.",
    "We use cookies to improve your experience on our site and to show you relevant advertising. "
    "By continuing to browse you agree to our use of cookies. Learn more in our cookie policy.",
    "Home | News | Sport | Business | Entertainment | Lifestyle | Contact us | About us | Advertise with us",
    "Share this article on Facebook, Twitter or by email. Comments are closed for this story. "
    "Follow us for more updates and join the conversation in our community forums.",
    "Copyright 2017 all rights reserved. This material may not be published, broadcast, rewritten or "
    "redistributed without permission. Related articles and recommended videos are below.",
]


@dataclass
class Corpus:
    ids: list[str]
    texts: list[str]
    truth: dict[str, str]  # planted id -> the original it was made from


def _originals(wheels: Path, wanted: int, rng: random.Random) -> list[tuple[str, str]]:
    docs = [(d["id"], d["text"]) for d in iter_reviews(wheels) if d["source"] == "imdb"]
    docs += [(d["id"], d["text"]) for d in iter_news(wheels)]
    texts = normalize_texts([t for _, t in docs], IngestSettings())
    real = [(i, t) for (i, _), t in zip(docs, texts, strict=True) if len(t.split()) >= 50]
    sentences = [s for _, t in real for s in SENTENCE.split(t.replace("\n", " ")) if len(s.split()) >= 4]
    synthetic = [
        (f"synthetic-{k}", " ".join(rng.choice(sentences) for _ in range(rng.randint(8, 14))))
        for k in range(max(0, wanted - len(real)))
    ]
    return (real + synthetic)[:wanted]


def _paragraphs(text: str) -> list[str]:
    parts = [p for p in text.split("\n\n") if p.strip()]
    if len(parts) > 1:
        return parts
    sentences = SENTENCE.split(text)
    return [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]


def plant(text: str, vocabulary: list[str], rng: random.Random) -> str:
    paragraphs = _paragraphs(text)
    if rng.random() < 0.5:
        rng.shuffle(paragraphs)
    words = [p.split() for p in paragraphs]
    flat = [(i, j) for i, p in enumerate(words) for j in range(len(p))]
    for i, j in rng.sample(flat, max(1, round(rng.uniform(0.05, 0.20) * len(flat)))):
        kind = rng.random()
        if kind < 0.6:
            words[i][j] = rng.choice(vocabulary)
        elif kind < 0.8:
            words[i][j] = ""
        else:
            words[i][j] = f"{words[i][j]} {rng.choice(vocabulary)}"
    paragraphs = [" ".join(w for w in p if w) for p in words]
    if rng.random() < 0.5:
        block = rng.choice(BOILERPLATE)
        paragraphs = [block, *paragraphs] if rng.random() < 0.5 else [*paragraphs, block]
    return "\n\n".join(paragraphs)


def build_corpus(wheels: Path, total: int, planted_share: float = 0.3, seed: int = 0) -> Corpus:
    rng = random.Random(seed)
    planted = round(total * planted_share)
    originals = _originals(wheels, total - planted, rng)
    vocabulary = sorted({w for _, t in originals[:5000] for w in t.split()})
    ids, texts = [i for i, _ in originals], [t for _, t in originals]
    truth = {}
    for k, (source_id, source_text) in enumerate(rng.sample(originals, planted)):
        ids.append(f"planted-{k}")
        texts.append(plant(source_text, vocabulary, rng))
        truth[f"planted-{k}"] = source_id
    order = list(range(len(ids)))
    rng.shuffle(order)
    return Corpus([ids[i] for i in order], [texts[i] for i in order], truth)
