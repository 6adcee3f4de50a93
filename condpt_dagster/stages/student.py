"""Stages ``teacher_sample`` and ``student_labeler``: distil the composite labeler into a student.

- ``teacher_sample``: ``sample_docs`` documents of ``clean/*.parquet`` drawn from every shard in proportion
  to its size (by a hash of the document id and the seed, so a shard's picks do not depend on the others),
  labelled by the teacher -> ``student/teacher_sample.parquet`` (LABEL_SCHEMA + ``shard`` + ``text`` + how
  the teacher's encoder read it: ``sentences``, their ``sentence_vectors`` and the ``document_vector``, as
  float16 lists).
- ``student_labeler``: labelers/distill.py on that sample -> ``student/model/`` when the student agrees with
  the teacher, ``student/model-rejected/`` when it does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from condpt_dagster.core.hashing import unit_hash
from condpt_dagster.core.io import atomic_output
from condpt_dagster.core.labeler_settings import StudentSettings
from condpt_dagster.core.lake import DataLake
from condpt_dagster.labelers.base import LABEL_SCHEMA, Labeler
from condpt_dagster.stages.document_labels import LABELER_VERSION_KEY, label_rows

REVISION = "1"
READ_FIELDS = ("sentences", "sentence_vectors", "document_vector")


def sample_schema(dim: int) -> pa.Schema:
    vector = pa.list_(pa.float16(), dim)
    extra = [
        pa.field("shard", pa.string()),
        pa.field("text", pa.string()),
        pa.field("sentences", pa.list_(pa.string())),
        pa.field("sentence_vectors", pa.list_(vector)),
        pa.field("document_vector", vector),
    ]
    schema = LABEL_SCHEMA
    for field in extra:
        schema = schema.append(field)
    return schema


def quotas(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Documents to draw per shard: proportional to its size (largest remainders), never more than it has."""
    available = sum(sizes.values())
    if available <= total:
        return dict(sizes)
    exact = {s: total * n / available for s, n in sizes.items()}
    out = {s: int(q) for s, q in exact.items()}
    for shard in sorted(exact, key=lambda s: (out[s] - exact[s], s))[: total - sum(out.values())]:
        out[shard] += 1
    return out


def _picked_ids(path: Path, quota: int, seed: int) -> set[str]:
    ids = pq.read_table(path, columns=["id"]).column("id").to_pylist()
    return set(sorted(ids, key=lambda i: unit_hash(i, seed, "teacher-sample"))[:quota])


@dataclass
class TeacherSample:
    documents: int
    per_shard: dict[str, int]


def draw_and_label(
    lake: DataLake,
    shards: list[str],
    teacher: Labeler,
    options: StudentSettings,
    progress: Callable[[int], None] | None = None,
) -> TeacherSample:
    """Write ``student/teacher_sample.parquet`` for these shards (those without clean documents are skipped);
    ``teacher``: a labeler with ``label_and_read`` (the composite labeler)."""
    sizes = {s: pq.ParquetFile(lake.clean(s)).metadata.num_rows for s in shards if lake.clean(s).is_file()}
    if not any(sizes.values()):
        raise FileNotFoundError(f"{lake.clean_dir}: no clean documents to sample (materialize clean_documents)")
    per_shard = {s: q for s, q in quotas(sizes, options.sample_docs).items() if q}
    version = teacher.version()
    schema = sample_schema(teacher.encoder.dim)
    done = 0
    schema = schema.with_metadata({LABELER_VERSION_KEY: version})
    with atomic_output(lake.teacher_sample) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as out:
        for shard, quota in per_shard.items():
            picked = pa.array(sorted(_picked_ids(lake.clean(shard), quota, options.seed)))
            docs = pq.read_table(lake.clean(shard), columns=["id", "text"]).filter(pc.is_in(pc.field("id"), picked))
            for start in range(0, len(docs), options.batch_docs):
                out.write_table(_labelled(docs.slice(start, options.batch_docs), shard, teacher, version, schema))
                done += min(options.batch_docs, len(docs) - start)
                if progress:
                    progress(done)
    return TeacherSample(done, per_shard)


def _labelled(docs: pa.Table, shard: str, teacher: Labeler, version: str, schema: pa.Schema) -> pa.Table:
    ids, texts = docs.column("id").to_pylist(), docs.column("text").to_pylist()
    labels, reads = teacher.label_and_read(texts)
    rows = label_rows(ids, labels, teacher, version)
    dim = schema.field("document_vector").type.list_size
    columns = {
        "shard": [shard] * len(ids),
        "text": texts,
        "sentences": [r.sentences for r in reads],
        "sentence_vectors": [np.asarray(r.sentence_vecs, np.float16).reshape(-1, dim).tolist() for r in reads],
        "document_vector": [
            (r.vector if r.vector is not None else np.zeros(dim)).astype(np.float16).tolist() for r in reads
        ],
    }
    for name, values in columns.items():
        rows = rows.append_column(name, pa.array(values, schema.field(name).type))
    return rows


def teacher_reads(sample: pa.Table, topic_prototypes: np.ndarray, format_prototypes: np.ndarray):
    """The sample's ``sentences`` and vectors, with the teacher's prototypes, as labelers.distill.TeacherReads."""
    from condpt_dagster.labelers.distill import TeacherReads

    dim = sample.schema.field("document_vector").type.list_size
    sentence_vectors = sample.column("sentence_vectors").combine_chunks().flatten().flatten()
    return TeacherReads(
        sentences=sample.column("sentences").to_pylist(),
        sentence_vectors=np.asarray(sentence_vectors.to_numpy(zero_copy_only=False), np.float32).reshape(-1, dim),
        document_vectors=np.asarray(
            sample.column("document_vector").combine_chunks().flatten().to_numpy(zero_copy_only=False), np.float32
        ).reshape(-1, dim),
        topic_prototypes=topic_prototypes,
        format_prototypes=format_prototypes,
    )


def train_from_sample(lake: DataLake, teacher: Labeler, options: StudentSettings):
    """Train the student on ``student/teacher_sample.parquet`` (``teacher``: the composite labeler that wrote
    it, whose topic and format prototypes the student keeps); returns labelers.distill's report."""
    from condpt_dagster.labelers.distill import DistillSettings, train_student

    if not lake.teacher_sample.is_file():
        raise FileNotFoundError(f"{lake.teacher_sample}: no teacher sample (materialize teacher_sample first)")
    sample = pq.read_table(lake.teacher_sample)
    sampled_by = (sample.schema.metadata or {}).get(LABELER_VERSION_KEY.encode(), b"").decode()
    if sampled_by != teacher.version():
        raise ValueError(
            f"{lake.teacher_sample}: labelled by teacher version {sampled_by or '(none)'}, the configured teacher "
            f"is {teacher.version()}: rematerialize teacher_sample"
        )
    about = {
        "labeler": teacher.name,
        "labeler_version": teacher.version(),
        "encoder_dir": str(teacher.model_dir),
        "taxonomy_path": str(teacher.taxonomy_path),
    }
    rows = sample.select(LABEL_SCHEMA.names).to_pylist()
    distill = DistillSettings(
        holdout=options.holdout,
        min_examples=options.min_examples,
        epochs=options.epochs,
        seed=options.seed,
        min_agreement=options.min_agreement,
        min_sentiment_agreement=options.min_sentiment_agreement,
    )
    ids, texts = sample.column("id").to_pylist(), sample.column("text").to_pylist()
    reads = teacher_reads(sample, teacher._topic_matrix, teacher._format_matrix)
    return train_student(ids, texts, rows, reads, about, lake.student_model, distill)
