"""The object-store lake's overhead: the same shards through the same stages on a local folder and on an
s3:// lake (moto_server on loopback, a fresh local cache), side by side.

    python -m bench.lake [--shards 4] [--docs-per-shard 250] [--repeats 2] [--work DIR]

Each repeat runs both modes (order alternating): raw_documents -> clean_documents -> document_labels ->
conditioned_examples per shard, the tokenizer, then token_blocks per shard, in-process with
``dagster.materialize``. Prints wall time per mode, the ratio s3/local (target <= 1.3) and the bucket's
object count and bytes. moto_server is an in-memory Python server: slower per request than a real store,
with no network latency.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from condpt_dagster.assets.partitions import shards
from condpt_dagster.core.settings import parse_settings
from condpt_dagster.defs.definitions import build_definitions
from harness.object_store_server import s3_server

REPO = Path(__file__).resolve().parents[1]

SHARD_STAGES = ["raw_documents", "clean_documents", "document_labels", "conditioned_examples"]
SETTINGS = {"tokenizer": {"vocab_size": 2000}, "blocks": {"block_size": 256}}


def make_shards(work: Path, count: int, docs: int) -> list[Path]:
    data = work / "sample"
    env = {**os.environ, "CONDPT_DATA_ROOT": str(data)}
    cmd = [str(Path(sys.executable).parent / "condpt"), "sample", "--docs", str(count * docs), "--shards", str(count)]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return sorted((data / "inbox").glob("sample-*.jsonl.gz"))


def run_pipeline(root: str, cache: Path | None, shard_files: list[Path], fs=None) -> float:
    os.environ.pop("CONDPT_DATA_ROOT", None)
    if cache is not None:
        os.environ["CONDPT_LAKE_CACHE"] = str(cache)
    settings = parse_settings({"lake": {"root": root}, **SETTINGS})
    inbox = f"{root.removeprefix('s3://')}/inbox"
    for path in shard_files:  # the shards arrive in the lake's inbox (the bucket's, for s3)
        if fs is not None:
            fs.put_file(str(path), f"{inbox}/{path.name}")
        else:
            Path(settings.data_root, "inbox").mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(settings.data_root, "inbox", path.name))
    keys = [p.name.split(".")[0] for p in shard_files]
    defs = build_definitions(settings)
    assets = list(defs.assets)
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    start = time.perf_counter()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, keys)

        def run(selection, key=None):
            result = dg.materialize(
                assets,
                selection=selection,
                partition_key=key,
                instance=instance,
                resources=defs.resources,
                run_config=quiet,
            )
            assert result.success, selection

        for key in keys:
            run(SHARD_STAGES, key)
        run(["tokenizer"])
        for key in keys:
            run(["token_blocks"], key)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--docs-per-shard", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="condpt-lake-"))
    shard_files = make_shards(work, args.shards, args.docs_per_shard)
    print(f"{len(shard_files)} shards x {args.docs_per_shard} documents; {os.cpu_count()} cores; work dir {work}")
    times: dict[str, list[float]] = {"local": [], "s3": []}
    with s3_server(work / "moto.log") as env:
        os.environ.update(env)
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        fs.mkdir("bench")
        for repeat in range(args.repeats):
            modes = ["local", "s3"] if repeat % 2 == 0 else ["s3", "local"]
            for mode in modes:
                tag = f"{mode}{repeat}"
                if mode == "local":
                    seconds = run_pipeline(str(work / tag), None, shard_files)
                else:
                    seconds = run_pipeline(f"s3://bench/{tag}", work / f"cache-{tag}", shard_files, fs)
                    objects = fs.find(f"bench/{tag}", detail=True)
                    size = sum(info["size"] for info in objects.values())
                    print(f"  bucket: {len(objects)} objects, {size / 2**20:.1f} MiB")
                times[mode].append(seconds)
                print(f"repeat {repeat} {mode:5s}: {seconds:6.1f} s", flush=True)
    best = {mode: min(values) for mode, values in times.items()}
    print(f"best local {best['local']:.1f} s, best s3 {best['s3']:.1f} s: overhead {best['s3'] / best['local']:.2f}x")


if __name__ == "__main__":
    main()
