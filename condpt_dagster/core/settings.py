"""Typed settings: one model per ``condpt.toml`` section, with every default and its meaning (``[clean]`` in
clean_settings.py, ``[labeler]`` and ``[student]`` in labeler_settings.py, ``[training]`` and ``[experiment]``
in training_settings.py, the section base in section.py).

Lookup: ``$CONDPT_CONFIG``, else ``./condpt.toml`` if present, else defaults; ``$CONDPT_DATA_ROOT`` overrides
``[lake] root``. Each section is validated when the file is loaded: unknown sections and keys (with the
closest valid name), wrong types (booleans must be booleans, enums one of their values) and out-of-range
numbers are all reported together in one :class:`SettingsError` naming the file, section and key.

The settings that determine a stage's output feed its ``code_version`` (:meth:`Section.version`), so
editing them and reloading the code location marks the affected partitions unsynced in the UI.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from condpt_dagster.core.clean_settings import CleanSettings
from condpt_dagster.core.deploy_settings import KubernetesSettings
from condpt_dagster.core.labeler_settings import LabelerSettings, StudentSettings
from condpt_dagster.core.object_store import default_cache, is_remote
from condpt_dagster.core.section import Section, SettingsError
from condpt_dagster.core.training_settings import ExperimentSettings, TrainingSettings
from condpt_dagster.core.vocab import CONDITION_FIELDS

DEFAULT_DATA_ROOT = "data"


class LakeSettings(Section):
    SECTION = "lake"
    root: str = Field(
        DEFAULT_DATA_ROOT,
        description="Data lake root: a folder (absolute or relative to the cwd) or an object-store URL "
        "(s3://bucket/prefix, worked on through a local cache; core/object_store.py).",
    )
    cache: str | None = Field(
        None, description="Remote root only: the local working copy (default ~/.cache/condpt/lake/<url>)."
    )


class IngestSettings(Section):
    SECTION = "ingest"
    UNVERSIONED = frozenset({"batch_size"})
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD", False] | None = Field(
        "NFC", description="Unicode normalization form, or false to keep text as is."
    )
    strip_html: StrictBool = Field(True, description="<br /> -> newline, inline tags removed, entities decoded.")
    normalize_whitespace: StrictBool = Field(True, description="CRLF -> LF, space runs -> one, <= 1 blank line.")
    max_chars: int = Field(1_000_000, ge=1, description="Records longer than this (before normalization) are ...")
    oversize: Literal["quarantine", "truncate"] = Field("quarantine", description="... quarantined or cut.")
    batch_size: int = Field(4096, ge=1, description="Records per batch (memory, not output).")


class ConditioningSettings(Section):
    SECTION = "conditioning"
    template: Literal["laion", "control_tokens", "metadata"] = Field("laion", description="Header template.")
    fields: tuple[str, ...] = Field(
        ("rating", "format", "topics", "sentiment", "tags", "synopsis"), description="Labels in the header, in order."
    )
    conditional_dropout: float = Field(0.01, ge=0, le=1, description="Share of documents with no header.")
    field_dropout: dict[str, float] = Field(default_factory=dict, description="Field -> share without it.")
    seed: int = Field(0, description="Seed of the deterministic dropout draws.")

    @classmethod
    def cross_checks(cls, values: dict[str, Any]) -> list[str]:
        fields, dropout = values.get("fields"), values.get("field_dropout")
        fields = fields if isinstance(fields, list | tuple) else []  # a wrong type is reported by its field
        dropout = dropout if isinstance(dropout, dict) else {}
        unknown = [f for f in [*fields, *dropout] if isinstance(f, str) and f not in CONDITION_FIELDS]
        bad_rates = [f for f, r in dropout.items() if not isinstance(r, int | float) or not 0 <= r <= 1]
        problems = [f"unknown conditioning field(s) {unknown}; known: {', '.join(CONDITION_FIELDS)}"] if unknown else []
        return problems + ([f"field_dropout rates must be between 0 and 1: {bad_rates}"] if bad_rates else [])


class TokenizerSettings(Section):
    SECTION = "tokenizer"
    vocab_size: int = Field(8192, ge=300, le=2**32, description="BPE vocabulary size (with special tokens).")
    sample_docs: int = Field(20_000, ge=1, description="Conditioned examples the BPE is trained on.")
    base_tokenizer_dir: str | None = Field(None, description="A local base model folder: reuse its tokenizer.")


class BlocksSettings(Section):
    SECTION = "blocks"
    UNVERSIONED = frozenset({"batch_docs"})
    block_size: int = Field(2048, ge=8, description="Tokens per training block.")
    mask_header: StrictBool = Field(True, description="No loss on header tokens: learn p(text | labels).")
    heldout_fraction: float = Field(0.02, ge=0, lt=1, description="Documents held out for evaluation.")
    max_doc_tokens: int | None = Field(
        None, ge=1, description="Pack only each document's first N body tokens (small-budget experiments)."
    )
    batch_docs: int = Field(1024, ge=1, description="Documents tokenized per batch (memory, not output).")


class ExportSettings(Section):
    SECTION = "export"
    formats: tuple[Literal["megatron", "hf"], ...] = Field(
        ("megatron", "hf"),
        min_length=1,
        description="What block_exports writes per shard: Megatron-LM indexed datasets, Hugging Face Arrow.",
    )

    @field_validator("formats")
    @classmethod
    def _distinct(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(formats)) != len(formats):
            raise ValueError(f"formats {formats} name one format twice")
        return formats


class LabelerAdapterSettings(Section):
    SECTION = "labeler_adapter"
    tagged_path: str | None = Field(None, description="Tagged set (default <data>/tagged/sample.parquet).")
    validation_fraction: float = Field(0.2, gt=0, lt=1, description="Share of texts for calibration.")
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(16, ge=1)
    max_tokens: int = Field(256, ge=8, description="Encoder tokens read per text.")
    learning_rate: float = Field(5e-4, gt=0, description="LoRA learning rate.")
    head_learning_rate: float = Field(3e-3, gt=0, description="Multi-label head learning rate.")
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    seed: int = 0
    encoder_dir: str | None = Field(None, description="Encoder folder (default MiniLM).")


class EvalSettings(Section):
    SECTION = "eval"
    max_docs: int = Field(200, ge=1, description="Held-out documents for losses.")
    max_body_tokens: int = Field(192, ge=1)
    bootstrap_reps: int = Field(1000, ge=10)
    samples_per_value: int = Field(4, ge=1, description="Generations per requested value.")
    max_new_tokens: int = Field(48, ge=1)
    temperature: float = Field(0.9, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    topic_values: int = Field(6, ge=0, description="Most frequent held-out topics to request.")
    tag_values: int = Field(4, ge=0, description="Most frequent keyword tags to request.")
    synopses: int = Field(4, ge=0)
    attribution_docs: int = Field(50, ge=0)
    seed: int = 0


class AuditSettings(Section):
    SECTION = "audit"
    memory_limit: str = Field(
        "2GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB memory limit of one `condpt audit` query (e.g. 512MB, 2GB).",
    )
    threads: int = Field(2, ge=1, le=256, description="DuckDB threads of one audit query.")
    timeout: float = Field(60.0, gt=0, le=86_400, allow_inf_nan=False, description="Default --timeout (seconds).")


class RelabelSettings(Section):
    SECTION = "relabel"
    cron: str = Field("0 3 * * 0", description="When relabel_schedule ticks (default Sunday 03:00).")


SECTIONS: dict[str, type[Section]] = {
    cls.SECTION: cls
    for cls in (
        LakeSettings,
        KubernetesSettings,
        IngestSettings,
        CleanSettings,
        LabelerSettings,
        StudentSettings,
        ConditioningSettings,
        TokenizerSettings,
        BlocksSettings,
        ExportSettings,
        TrainingSettings,
        LabelerAdapterSettings,
        EvalSettings,
        RelabelSettings,
        AuditSettings,
        ExperimentSettings,
    )
}


class Settings(BaseModel):
    """Every section; ``data_root`` is the resolved lake root, ``source`` the file read (or "defaults")."""

    model_config = ConfigDict(frozen=True)
    data_root: str = str(Path(DEFAULT_DATA_ROOT).resolve())
    remote_root: str | None = None  # an object-store lake that data_root (its local cache) mirrors
    ingest: IngestSettings = IngestSettings()
    clean: CleanSettings = CleanSettings()
    labeler: LabelerSettings = LabelerSettings()
    student: StudentSettings = StudentSettings()
    conditioning: ConditioningSettings = ConditioningSettings()
    tokenizer: TokenizerSettings = TokenizerSettings()
    blocks: BlocksSettings = BlocksSettings()
    export: ExportSettings = ExportSettings()
    training: TrainingSettings = TrainingSettings()
    labeler_adapter: LabelerAdapterSettings = LabelerAdapterSettings()
    eval: EvalSettings = EvalSettings()
    relabel: RelabelSettings = RelabelSettings()
    audit: AuditSettings = AuditSettings()
    experiment: ExperimentSettings = ExperimentSettings()
    kubernetes: KubernetesSettings = KubernetesSettings()
    source: str = "defaults"


def settings_file(path: str | os.PathLike[str] | None = None) -> Path | None:
    path = path or os.environ.get("CONDPT_CONFIG")
    if path is None and Path("condpt.toml").is_file():
        path = "condpt.toml"
    return Path(path) if path is not None else None


def parse_settings(raw: dict[str, Any], source: str = "defaults") -> Settings:
    """Validate every section of a parsed TOML document; all problems are reported together."""
    problems, sections = [], {}
    for name, values in raw.items():
        cls = SECTIONS.get(name)
        if cls is None:
            close = difflib.get_close_matches(name, list(SECTIONS), n=1)
            hint = f"did you mean [{close[0]}]?" if close else f"known sections: {', '.join(SECTIONS)}"
            problems.append(f"unknown section [{name}] ({hint})")
        elif not isinstance(values, dict):
            problems.append(f"[{name}] must be a table of settings, got {values!r}")
        else:
            try:
                sections[name] = cls.model_validate(values)
            except SettingsError as exc:
                problems.append(str(exc).removeprefix("invalid settings: "))
    if problems:
        raise SettingsError(f"{source}: invalid settings: " + "; ".join(problems))
    lake = sections.pop("lake", LakeSettings())
    root = os.environ.get("CONDPT_DATA_ROOT") or lake.root
    if is_remote(root):  # the stages work on a local cache that mirrors the bucket
        cache = os.environ.get("CONDPT_LAKE_CACHE") or lake.cache or str(default_cache(root))
        local = str(Path(cache).expanduser().resolve())
        return Settings(data_root=local, remote_root=root.rstrip("/"), source=source, **sections)
    return Settings(data_root=str(Path(root).expanduser().resolve()), source=source, **sections)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    file = settings_file(path)
    if file is None:
        return parse_settings({})
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{file}: cannot read condpt settings: {exc}") from exc
    return parse_settings(raw, str(file))
