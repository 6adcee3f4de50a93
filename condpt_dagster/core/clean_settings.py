"""``[clean]``: the settings of ``clean_documents`` (quality filters, deduplication, PII, decontamination)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool

from condpt_dagster.core.section import Section, StrictSettings


class _FilterSettings(StrictSettings):
    """One quality filter: on/off plus datatrove's own parameter names and published defaults."""

    enabled: StrictBool = True

    def filter_kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude={"enabled", "min_words"})


class GopherQualitySettings(_FilterSettings):
    """Gopher quality rules (Rae et al. 2021, table A1 ranges)."""

    min_doc_words: int | None = Field(50, ge=0)
    max_doc_words: int | None = Field(100_000, ge=1)
    min_avg_word_length: int | None = Field(3, ge=0)
    max_avg_word_length: int | None = Field(10, ge=1)
    max_symbol_word_ratio: float | None = Field(0.1, ge=0)
    max_bullet_lines_ratio: float | None = Field(0.9, ge=0, le=1)
    max_ellipsis_lines_ratio: float | None = Field(0.3, ge=0, le=1)
    max_non_alpha_words_ratio: float | None = Field(0.8, ge=0, le=1)
    min_stop_words: int | None = Field(2, ge=0)


class GopherRepetitionSettings(_FilterSettings):
    """Gopher repetition rules; skipped below ``min_words`` words, where n-gram shares mean nothing."""

    min_words: int = Field(50, ge=0, description="Documents with fewer words are not checked.")
    dup_line_frac: float | None = Field(0.3, ge=0, le=1)
    dup_para_frac: float | None = Field(0.3, ge=0, le=1)
    dup_line_char_frac: float | None = Field(0.2, ge=0, le=1)
    dup_para_char_frac: float | None = Field(0.2, ge=0, le=1)
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


class FineWebQualitySettings(_FilterSettings):
    """FineWeb's line rules; off by default: they remove single-paragraph reviews and news without
    terminal punctuation per line, which web crawls rarely contain but curated corpora do."""

    enabled: StrictBool = False
    line_punct_thr: float = Field(0.12, ge=0, le=1)
    line_punct_exclude_zero: StrictBool = False
    short_line_thr: float = Field(0.67, ge=0, le=1)
    short_line_length: int = Field(30, ge=0)
    char_duplicates_ratio: float = Field(0.01, ge=0, le=1)
    new_line_ratio: float = Field(0.3, ge=0)


class C4QualitySettings(_FilterSettings):
    """C4's rules; off by default. It also removes lines (no terminal punctuation, javascript, policy)."""

    enabled: StrictBool = False
    split_paragraph: StrictBool = True
    remove_citations: StrictBool = True
    filter_no_terminal_punct: StrictBool = True
    min_num_sentences: int = Field(5, ge=-1)
    min_words_per_line: int = Field(3, ge=-1)
    max_word_length: int = Field(1000, ge=-1)
    filter_lorem_ipsum: StrictBool = True
    filter_javascript: StrictBool = True
    filter_curly_bracket: StrictBool = True
    filter_policy: StrictBool = True


class CleanSettings(Section):
    """``clean_documents``: quality filters, exact and near-duplicate removal across shards, PII redaction."""

    SECTION = "clean"
    UNVERSIONED = frozenset({"check_decontamination", "eval_texts", "decontamination_threshold"})
    gopher_quality: GopherQualitySettings = GopherQualitySettings()
    gopher_repetition: GopherRepetitionSettings = GopherRepetitionSettings()
    fineweb_quality: FineWebQualitySettings = FineWebQualitySettings()
    c4_quality: C4QualitySettings = C4QualitySettings()
    near_duplicates: StrictBool = Field(True, description="MinHash LSH near-duplicate removal across shards.")
    shingle_words: int = Field(
        1, ge=1, description="Words per shingle (lowercased, punctuation removed); 1 = the set of words."
    )
    num_perm: int = Field(128, ge=8, description="MinHash permutations per signature.")
    bands: int = Field(32, ge=1, description="LSH bands (num_perm / bands rows each).")
    similarity_threshold: float = Field(
        0.6, gt=0, le=1, description="A candidate is a duplicate when its estimated Jaccard reaches this."
    )
    near_duplicate_min_words: int = Field(
        50, ge=1, description="Shorter documents are only compared exactly (word overlap means little in a line)."
    )
    seed: int = Field(1, description="MinHash permutation seed.")
    redact_emails: StrictBool = True
    redact_phones: StrictBool = True
    redact_ip_addresses: StrictBool = True
    redact_credit_cards: StrictBool = True
    phone_region: str = Field("US", description="Region for numbers written without a country code.")
    check_decontamination: StrictBool = Field(
        True, description="Check held-out and eval text against training before each training run."
    )
    eval_texts: tuple[str, ...] = Field(
        (), description="Files (.jsonl/.parquet with 'text') of evaluation text that must not leak into training."
    )
    decontamination_threshold: float = Field(
        0.6, gt=0, le=1, description="Held-out/eval vs training estimated Jaccard that fails the training run."
    )

    @classmethod
    def cross_checks(cls, values: dict[str, Any]) -> list[str]:
        num_perm, bands = values.get("num_perm"), values.get("bands")
        if isinstance(num_perm, int) and isinstance(bands, int) and bands > 0 and num_perm % bands:
            return [f"num_perm ({num_perm}) must be a multiple of bands ({bands})"]
        return []
