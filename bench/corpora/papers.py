"""Research papers for the dev sets: the statistics papers that Debian's R packages ship as vignettes.

Many CRAN packages carry, as their vignettes, the LaTeX (Sweave) source of the paper that introduced them in
the *Journal of Statistical Software*, *R News* or another journal, or a technical report on their methods.
Debian ships those sources in the packages below (GPL-2 or GPL-3, the packages' licences): ``PAPERS`` names the
vignettes that are papers (abstract, introduction, method, discussion), not FAQs, quick references or
function-by-function guides. One field (statistical computing), several journals and authors: the held-out
set's learned writing is broader, so this source checks ``academic`` on one kind of it.

LaTeX becomes plain text with ``pylatexenc``: R code chunks (``<<>>= ... @``), code and output environments,
floats, display maths and the bibliography are dropped; inline maths is kept as its text; a citation reads
``[1]`` and a cross-reference ``2``; section headings stay as lines of their own. Then, as for Wikipedia
(``corpora/wiki.py``), ~250-word passages of whole paragraphs, the paper's title above its abstract, at most 5
per paper. One paper, one split.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from bench.corpora import wiki
from condpt_dagster.sample_corpus import fiction


def _deb(package: str, version: str, arch: str, sha256: str) -> fiction.Archive:
    file = f"{package}_{version.replace(':', '%3a')}_{arch}.deb"  # as apt-get download names it
    return fiction.Archive(file, sha256, ("apt-get", "download", f"{package}={version}"), "apt-get (Debian)")


SITE = "usr/lib/R/site-library"
# (package, version, architecture, sha256 of the .deb, the vignettes in it that are papers)
PACKAGES = (
    ("r-cran-zoo", "1.8-11-1", "amd64", "81f27bbee835d9d44d2a410211c813d2da6c2d71f1e37d71b019ab259e182b9b",
     (f"{SITE}/zoo/doc/zoo.Rnw",)),
    ("r-cran-sandwich", "3.0-2-1", "all", "a90e7d3c69c70a6d73e4bc63d1f20eae3b4a73866d5266246dd5b3d980c60d79",
     (f"{SITE}/sandwich/doc/sandwich.Rnw", f"{SITE}/sandwich/doc/sandwich-OOP.Rnw",
      f"{SITE}/sandwich/doc/sandwich-CL.Rnw")),
    ("r-cran-strucchange", "1.5-3-1", "amd64", "0be3f44609be4e90be3f295880dbcaebf57e5a918b68eb11f18c0900b2a4874d",
     (f"{SITE}/strucchange/doc/strucchange-intro.Rnw",)),
    ("r-cran-lmtest", "0.9.40-1", "amd64", "ce2a709e7bb917f2b435314038e69ac8d32d71426f91c01b0332cb39b5020bf7",
     (f"{SITE}/lmtest/doc/lmtest-intro.Rnw",)),
    ("r-cran-lme4", "1.1-31-1", "amd64", "232c90c0504309ee64749af8ca8359e999a00e6dc0c1abf697640f1c16ecb4aa",
     (f"{SITE}/lme4/doc/lmer.Rnw", f"{SITE}/lme4/doc/Theory.Rnw", f"{SITE}/lme4/doc/PLSvGLS.Rnw")),
    ("r-cran-vcd", "1:1.4-11-1", "all", "959639853b06a9056b4494e145bf84394a329805645e80c4384091323b6c6ae4",
     (f"{SITE}/vcd/doc/strucplot.Rnw", f"{SITE}/vcd/doc/residual-shadings.Rnw")),
    ("r-cran-coin", "1.4-2-1+b1", "amd64", "391bda13701acba6329f821cfde3571827bd7a4cff91b66511945f1c9e7fa9aa",
     (f"{SITE}/coin/doc/coin.Rnw", f"{SITE}/coin/doc/LegoCondInf.Rnw", f"{SITE}/coin/doc/MAXtest.Rnw",
      f"{SITE}/coin/doc/Implementation.Rnw")),
    ("r-cran-party", "1.3-11-1", "amd64", "ecca5564178b27b54228a5edace4d2b42493bc8635b251826cee4bd5bd1b7457",
     (f"{SITE}/party/doc/party.Rnw", f"{SITE}/party/doc/MOB.Rnw")),
    ("r-cran-mvtnorm", "1.1-3-1+b1", "amd64", "12e5917f2e9514ba842315c9fa3fabfe6beed91b2113e5cbee3b2eba7e4cab7d",
     (f"{SITE}/mvtnorm/doc/MVT_Rnews.Rnw",)),
    ("r-cran-survival", "3.5-3-1", "amd64", "f7b474e37620b54bd0112b3847bbad0a6b75b9c2121d6936548dd74ebd4003d5",
     ("usr/lib/R/library/survival/doc/compete.Rnw", "usr/lib/R/library/survival/doc/concordance.Rnw",
      "usr/lib/R/library/survival/doc/adjcurve.Rnw")),
)  # fmt: skip
PAPERS: dict[fiction.Archive, tuple[str, ...]] = {
    _deb(package, version, arch, sha256): vignettes for package, version, arch, sha256, vignettes in PACKAGES
}

# macros whose one argument is text to keep (JSS markup and fonts), to drop, or a citation
KEEP_ARG = ("pkg", "proglang", "code", "fct", "class", "file", "email", "url", "doi", "emph", "textbf", "textit",
            "texttt", "textsf", "textsc", "samp", "command", "option", "var", "dfn", "acronym", "mbox")  # fmt: skip
DROP_ARG = ("label", "bibliography", "bibliographystyle", "SweaveOpts", "SweaveInput", "footnote", "index",
            "Sexpr", "setkeys", "vspace", "hspace", "input", "include", "thanks")  # fmt: skip
CITES = ("cite", "citep", "citet", "citealp", "citealt", "citeauthor", "citeyear", "citeA", "Citet", "Citep")
REFS = ("ref", "eqref", "autoref", "pageref")
SECTIONS = re.compile(r"\\(?:sub)*section\*?(?:\[[^\]]*\])?\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}")
DROPPED_ENVIRONMENTS = ("Code", "CodeChunk", "CodeInput", "CodeOutput", "Sinput", "Soutput", "Schunk", "verbatim",
                        "figure", "table", "thebibliography", "equation", "eqnarray", "align", "displaymath",
                        "multline", "gather", "tabular", "lstlisting", "knitrout", "kframe")  # fmt: skip
_CHUNK = re.compile(r"(?ms)^<<.*?>>=.*?^@[ \t]*$")
_ENVIRONMENT = re.compile(rf"(?s)\\begin\{{({'|'.join(DROPPED_ENVIRONMENTS)})\*?\}}.*?\\end\{{\1\*?\}}")
_DISPLAY_MATH = re.compile(r"(?s)\\\[.*?\\\]|\$\$.*?\$\$")
_COMMENT = re.compile(r"(?m)(?<!\\)%.*$")
_ABSTRACT = re.compile(r"(?s)\\Abstract\{(.*?)\}\s*\n\s*\\|\\begin\{abstract\}(.*?)\\end\{abstract\}")
_TITLE = re.compile(r"\\(?:Plaintitle|title)\{((?:[^{}]|\{[^{}]*\})*)\}")
_CODE_LEFTOVER = re.compile(r"^R> |<-|\bfunction\s*\(")


def _contexts():
    from pylatexenc import latex2text, latexwalker, macrospec

    walker = latexwalker.get_default_latex_context_db()
    walker.add_context_category(
        "vignettes",
        prepend=True,
        macros=[macrospec.MacroSpec(m, "{") for m in (*KEEP_ARG, *DROP_ARG, *REFS)]
        + [macrospec.MacroSpec(m, "[[{") for m in CITES],
    )
    text = latex2text.get_default_latex_context_db()
    text.add_context_category(
        "vignettes",
        prepend=True,
        macros=[latex2text.MacroTextSpec(m, "%(1)s") for m in KEEP_ARG]
        + [latex2text.MacroTextSpec(m, "") for m in DROP_ARG]
        + [latex2text.MacroTextSpec(m, "[1]") for m in CITES]
        + [latex2text.MacroTextSpec(m, "2") for m in REFS],
    )
    return walker, text


def to_text(latex: str) -> str:
    """Plain text of a LaTeX fragment (markup, see the module docstring); paragraphs separated by blank lines."""
    from pylatexenc import latex2text, latexwalker

    walker_context, text_context = _contexts()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # pylatexenc logs every macro it does not know; the text is still right
    try:
        nodes = latexwalker.LatexWalker(latex, latex_context=walker_context, tolerant_parsing=True).get_latex_nodes()
        text = latex2text.LatexNodes2Text(latex_context=text_context, math_mode="text").nodelist_to_text(nodes[0])
    finally:
        logging.disable(previous)
    return text.replace("`", "'")  # LaTeX's `single quotes'


def _paragraphs(text: str) -> list[str]:
    """Reflowed paragraphs, without what removing the code left behind."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        paragraph = " ".join(block.split())
        if len(paragraph.split()) >= wiki.MIN_PARAGRAPH_WORDS and not _CODE_LEFTOVER.search(paragraph):
            out.append(paragraph)
    return out


def paper_sections(source: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """(title, [(heading, paragraphs)]) of a Sweave paper: its abstract first, under the heading "Abstract"."""
    source = _COMMENT.sub("", _CHUNK.sub("", source))
    title_match = _TITLE.search(source)
    title = " ".join(to_text(title_match.group(1)).split()) if title_match else ""
    abstract = _ABSTRACT.search(source)
    body = source.split(r"\begin{document}", 1)[-1].split(r"\end{document}", 1)[0]
    body = _DISPLAY_MATH.sub(" ", _ENVIRONMENT.sub("\n\n", body))
    body = _ABSTRACT.sub("\n\n", body)  # an abstract environment inside the document
    parts = SECTIONS.split(body)  # text, heading, text, heading, ...
    sections = []
    if abstract:
        sections.append(("Abstract", _paragraphs(to_text(abstract.group(1) or abstract.group(2) or ""))))
    sections.append(("", _paragraphs(to_text(parts[0]))))
    for heading, text in zip(parts[1::2], parts[2::2], strict=True):
        sections.append((" ".join(to_text(heading).split()), _paragraphs(to_text(text))))
    return title, [(heading, paragraphs) for heading, paragraphs in sections if paragraphs]


def paper_passages(cache: Path) -> Iterator[tuple[str, str, str]]:
    """(id, paper, passage) of every paper in ``PAPERS`` (the packages fetched into ``cache``)."""
    for archive, vignettes in PAPERS.items():
        members = fiction.deb_members(cache / archive.file, vignettes)
        for path in vignettes:
            paper = Path(path).stem
            title, sections = paper_sections(members[path].decode("utf-8", errors="replace"))
            for n, text in enumerate(wiki.passages(title or paper, sections)):
                yield f"paper-{paper}-{n}", paper, text
