"""bench/corpora/papers.py: a Sweave paper's LaTeX as the `papers` dev source's plain-text passages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.corpora import devsets, papers, wiki
from condpt_dagster.sample_corpus import fiction

SENTENCE = "Heteroskedasticity-consistent estimators of the covariance matrix are robust to misspecified variance."
PARAGRAPH = " ".join([SENTENCE] * 8)

PAPER = rf"""\documentclass[article]{{jss}}
\title{{\pkg{{sandwich}}: Robust Covariance Matrix Estimators}}
\Plaintitle{{sandwich: Robust Covariance Matrix Estimators}}
\Abstract{{
  This paper describes \pkg{{sandwich}}, an \proglang{{R}} package \citep{{Zeileis:2004}}.
}}
\Keywords{{covariance matrix estimators, \proglang{{R}}}}
\begin{{document}}
\SweaveOpts{{engine=R}}
%\VignetteIndexEntry{{sandwich}}

<<preliminaries,echo=FALSE>>=
library("sandwich")
fm <- lm(y ~ x)
@

\section[Intro]{{Introduction}} \label{{sec:intro}}
{PARAGRAPH} See Section~\ref{{sec:model}} and \cite[p.~3]{{White:1980}}. % a LaTeX comment
The model is $y_i = x_i^\top \beta + u_i$.

\begin{{Code}}
R> vcovHC(fm, type = "HC3")
\end{{Code}}

\begin{{equation}}
\Omega = \mathrm{{diag}}(\omega_1, \dots, \omega_n)
\end{{equation}}

\subsection{{The model \code{{"lm"}}}} \label{{sec:model}}
{PARAGRAPH}

\begin{{figure}}
\caption{{A figure caption that is not prose.}}
\end{{figure}}

\bibliography{{sandwich}}
\end{{document}}
"""


def test_latex_becomes_the_text_a_reader_sees():
    title, sections = papers.paper_sections(PAPER)
    assert title == "sandwich: Robust Covariance Matrix Estimators"
    assert [heading for heading, _ in sections] == ["Abstract", "Introduction", 'The model "lm"']
    assert sections[0][1] == ["This paper describes sandwich, an R package [1]."]
    intro = " ".join(sections[1][1])
    assert "See Section 2 and [1]." in intro
    assert "The model is y_i = x_i^" in intro  # inline maths kept as its text
    text = " ".join(p for _, paragraphs in sections for p in paragraphs)
    for residue in ("library(", "<-", "vcovHC", "Omega", "diag", "caption", "VignetteIndexEntry", "comment",
                    "engine=R", "\\", "{", "sec:"):  # fmt: skip
        assert residue not in text, residue


def test_passages_start_with_the_title_and_abstract():
    first = next(wiki.passages(*papers.paper_sections(PAPER)))
    assert first.split("\n\n")[:3] == [
        "sandwich: Robust Covariance Matrix Estimators",
        "Abstract",
        "This paper describes sandwich, an R package [1].",
    ]


def _fake_deb(folder: Path, archive: fiction.Archive, files: dict[str, str]) -> None:
    """A Debian package holding ``files`` (dpkg-deb builds it)."""
    root = folder / "root"
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    (root / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: fake\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n", encoding="utf-8"
    )
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(root), str(folder / archive.file)], check=True,
                   capture_output=True)  # fmt: skip


def test_one_paper_one_split(tmp_path, monkeypatch):
    pytest.importorskip("pylatexenc")
    if shutil.which("dpkg-deb") is None:
        pytest.skip("needs dpkg-deb")
    archive = fiction.Archive("r-cran-fake_1_all.deb", "0" * 64, ("true",), "none")
    long_paper = PAPER.replace(PARAGRAPH, "\n\n".join([PARAGRAPH] * 20))
    vignettes = {f"usr/lib/R/site-library/fake/doc/paper{i}.Rnw": long_paper for i in range(6)}
    _fake_deb(tmp_path, archive, vignettes)
    monkeypatch.setattr(papers, "PAPERS", {archive: tuple(vignettes)})
    docs = list(devsets.research_papers(tmp_path))
    by_paper: dict[str, set[str]] = {}
    for doc in docs:
        assert doc.format == "academic" and doc.genre == "nonfiction"
        by_paper.setdefault(doc.id.rsplit("-", 1)[0], set()).add(doc.split)
    assert len(by_paper) == 6 and all(len(splits) == 1 for splits in by_paper.values())
    assert all(sum(d.id.startswith(f"{paper}-") for d in docs) == wiki.PASSAGES for paper in by_paper)
