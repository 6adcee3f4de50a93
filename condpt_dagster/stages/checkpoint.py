"""Stage ``checkpoint``: checks before a launch (inputs, decontamination) and the run spec it launches.

The training itself runs in other processes (:mod:`condpt_dagster.training.train`, launched by the command of
:mod:`condpt_dagster.training.launch`); this module decides whether a launch can work and writes
``checkpoints/<run>/run.json`` for it.

Decontamination (the asset's blocking check, run before every launch): no held-out document and no
evaluation text shares a near-duplicate with training blocks. Training documents are those packed into
``blocks/<shard>.spans.parquet``; held-out ones are in ``blocks/<shard>.heldout.parquet``; evaluation texts
come from the files ``[clean] eval_texts`` names. Their MinHash signatures (stored fingerprints where still
valid, else computed from the conditioned text) go into one LSH index of the training documents, which every
held-out document and evaluation text is queried against; texts shorter than ``near_duplicate_min_words`` are
compared exactly (normalized whitespace and case), as ``clean_documents`` does.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from condpt_dagster.cleaning.minhash import MinHasher, NearDuplicateIndex
from condpt_dagster.conditioning.blocks import BlockMeta, blocks_data_version
from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.conditioning.seen import seen_values
from condpt_dagster.conditioning.tokenizer import tokenizer_sha256
from condpt_dagster.core.io import clear_orphans
from condpt_dagster.core.lake import CheckpointFiles, DataLake
from condpt_dagster.core.settings import CleanSettings, TrainingSettings
from condpt_dagster.stages.clean_documents import stored_fingerprints
from condpt_dagster.training.guard import RunFolderBusy, check_run_lock
from condpt_dagster.training.launch import LaunchError, launch_command
from condpt_dagster.training.run_spec import REVISION, RunSpec


def _shards_with_current_blocks(lake: DataLake, shards: list[str], tok_sha: str) -> list[str]:
    with_blocks = [s for s in shards if lake.blocks(s).meta.is_file()]
    if not with_blocks:
        raise LaunchError(f"{lake.blocks_dir}: no token blocks for any shard; materialize token_blocks first")
    stale = [s for s in with_blocks if BlockMeta.load(lake.blocks(s).meta).tokenizer_sha256 != tok_sha]
    if stale:
        raise LaunchError(
            f"blocks of shard(s) {', '.join(stale)} were made with another tokenizer "
            f"(current {tok_sha[:12]}); rematerialize token_blocks for them"
        )
    return with_blocks


def shard_lineage(lake: DataLake, shard: str) -> dict[str, str | None]:
    """What a shard's blocks were built from, as their meta.json records it (None for older blocks)."""
    meta = BlockMeta.load(lake.blocks(shard).meta)
    return {
        "labels_version": meta.labels_version,
        "conditioned_data_version": meta.conditioned_data_version,
        "blocks_data_version": blocks_data_version(lake.blocks(shard)),
    }


def prepare_run(
    lake: DataLake, shards: list[str], config: TrainingSettings, conditioning: HeaderFormat
) -> tuple[RunSpec, Path]:
    """Validate inputs and write ``checkpoints/<run>/run.json``; raise LaunchError with the reason."""
    if not lake.tokenizer.tokenizer_json.is_file():
        raise LaunchError(f"{lake.tokenizer_dir}: no tokenizer.json; materialize the tokenizer asset first")
    tok_sha = tokenizer_sha256(lake.tokenizer_dir)
    with_blocks = _shards_with_current_blocks(lake, shards, tok_sha)
    files = lake.checkpoint(config.run)
    files.folder.mkdir(parents=True, exist_ok=True)
    try:
        check_run_lock(files.lock)  # never rewrite the folder of a run that is still training
    except RunFolderBusy as exc:
        raise LaunchError(str(exc)) from exc
    clear_orphans([files.run_spec, files.manifest, files.loss_plot, files.hf_dir])
    spec = RunSpec(
        config=config.model_dump(mode="json"),
        lake_root=str(lake.root),
        shards=with_blocks,
        partition_data_versions={s: blocks_data_version(lake.blocks(s)) for s in with_blocks},
        tokenizer_sha256=tok_sha,
        code_version=config.version(REVISION),
        conditioning=conditioning.with_seen(seen_values(lake, with_blocks, conditioning.fields)).to_json(),
        lineage={s: shard_lineage(lake, s) for s in with_blocks},
    )
    _discard_other_runs(files, spec.identity())
    spec.save(files.run_spec)
    return spec, files.run_spec


def describe_model(files: CheckpointFiles) -> None:
    """The exported model's card (``hf/README.md``) once training finished; the eval report adds its results."""
    from condpt_dagster.evaluation.model_card import write_model_card

    write_model_card(files)


def _discard_other_runs(files: CheckpointFiles, identity: str) -> None:
    """Checkpoints of a run with other config, data or tokenizer must not be resumed: remove them."""
    marker = files.identity
    if not marker.is_file() or marker.read_text().strip() != identity:
        for folder in (files.deepspeed_dir, files.snapshots_dir, files.monitor_dir):  # the discarded run's
            if folder.exists():
                shutil.rmtree(folder)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(identity)


@dataclass(frozen=True)
class Launch:
    spec: RunSpec
    spec_path: Path
    command: list[str]


def prepare_launch(lake: DataLake, shards: list[str], config: TrainingSettings, conditioning: HeaderFormat) -> Launch:
    """Everything the checkpoint asset needs to start training: the spec on disk and the command."""
    spec, spec_path = prepare_run(lake, shards, config, conditioning)
    return Launch(spec, spec_path, launch_command(config, spec_path))


MAX_REPORTED = 20


@dataclass
class Contamination:
    training_documents: int = 0
    checked: int = 0  # held-out documents + evaluation texts compared
    pairs: list[dict] = field(default_factory=list)  # first MAX_REPORTED: held-out/eval -> training match
    contaminated: int = 0

    @property
    def passed(self) -> bool:
        return self.contaminated == 0


def _stored_signatures(lake: DataLake, shard: str, options: CleanSettings) -> dict[str, np.ndarray]:
    prints = stored_fingerprints(lake, shard, options)
    if prints is None:
        return {}
    return {prints.ids[i]: prints.signatures[i] for i in prints.passing()}


def _exact_key(text: str) -> str:
    return " ".join(text.lower().split())


def _training_documents(lake: DataLake, shard: str, options: CleanSettings, hasher: MinHasher):
    """(ids, exact keys, signatures) of the documents of the shard's training blocks long enough to compare
    by signature; the exact keys cover every training document."""
    ids = pl.read_parquet(lake.blocks(shard).spans, columns=["id"])["id"].unique(maintain_order=True)
    docs = pl.read_parquet(lake.conditioned(shard), columns=["id", "text"]).filter(pl.col("id").is_in(ids.implode()))
    texts = dict(zip(docs["id"].to_list(), docs["text"].to_list(), strict=True))
    long_ids = [i for i, t in texts.items() if len(t.split()) >= options.near_duplicate_min_words]
    stored = _stored_signatures(lake, shard, options)
    missing = [doc_id for doc_id in long_ids if doc_id not in stored]
    stored |= dict(zip(missing, hasher.signatures(texts[i] for i in missing), strict=True))
    signatures = np.vstack([stored[i] for i in long_ids]) if long_ids else np.empty((0, options.num_perm), np.uint32)
    return long_ids, {_exact_key(t): i for i, t in texts.items()}, signatures


def _eval_texts(paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """(source, text) of every evaluation text; a file without a 'text' column is an error naming it."""
    found = []
    for name in paths:
        path = Path(name)
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_ndjson(path)
        if "text" not in frame.columns:
            raise ValueError(f"{path}: [clean] eval_texts file has no 'text' column (columns: {frame.columns})")
        found += [(f"{path.name}:{i + 1}", text) for i, text in enumerate(frame["text"].to_list())]
    return found


def check_contamination(lake: DataLake, shards: list[str], options: CleanSettings) -> Contamination:
    hasher = MinHasher(options.num_perm, options.shingle_words, options.seed)
    index = NearDuplicateIndex(options.num_perm, options.bands, options.decontamination_threshold, options.seed)
    report, exact = Contamination(), {}
    for shard in shards:
        ids, keys, signatures = _training_documents(lake, shard, options, hasher)
        index.add_many([(shard, i) for i in ids], signatures)
        exact |= {key: (shard, doc_id) for key, doc_id in keys.items()}
        report.training_documents += len(keys)
    probes = []
    for shard in shards:
        heldout = pq.read_table(lake.blocks(shard).heldout, columns=["id", "text"]).to_pydict()
        probes += [(f"heldout {shard}/{i}", t) for i, t in zip(heldout["id"], heldout["text"], strict=True)]
    probes += [(f"eval {source}", text) for source, text in _eval_texts(options.eval_texts)]
    report.checked = len(probes)
    long = [len(t.split()) >= options.near_duplicate_min_words for _, t in probes]
    signatures = iter(hasher.signatures(t for (_, t), is_long in zip(probes, long, strict=True) if is_long))
    for (name, text), is_long in zip(probes, long, strict=True):
        signature = next(signatures) if is_long else None
        same = exact.get(_exact_key(text))
        match = (same, 1.0) if same is not None else index.best_match(signature) if is_long else None
        if match is not None:
            report.contaminated += 1
            if len(report.pairs) < MAX_REPORTED:
                (shard, doc_id), similarity = match
                report.pairs.append({"document": name, "training": f"{shard}/{doc_id}", "similarity": similarity})
    return report
