"""The composite labeler's parts without the encoder: format cues and gates, rating and sentiment heads,
lemmatized tag candidates, the taxonomy file's format check."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from condpt_dagster.core.vocab import RATINGS, STEERABLE_FORMATS
from condpt_dagster.labelers.format import REQUIRED_CUES, FormatModel, has_required_cue
from condpt_dagster.labelers.format_cues import cue_matrix, layout_cues
from condpt_dagster.labelers.rating import FEATURES, RatingHead, rating_features
from condpt_dagster.labelers.sentiment import SentimentHead
from condpt_dagster.labelers.tags import KeywordTagger, candidates_batch
from condpt_dagster.labelers.taxonomy import TAXONOMY, Taxonomy

CODE = "import os\n\ndef main():\n    path = os.getcwd()\n    print(path)\n    return 0\n"
VERSE = "The sea is calm tonight\nThe tide is full, the moon lies fair\nUpon the straits\nA light gleams and is gone\n"
PROSE = "The committee met on Tuesday. It discussed the budget at length. Members voted on the plan."
INTERVIEW = "HOST: Welcome back.\nSMITH: Thank you for having me.\nHOST: What happened next?\nSMITH: We left.\n"


def test_layout_cues_see_line_structure():
    assert layout_cues(CODE)["code_lines"] > 0.5 and layout_cues(PROSE)["code_lines"] == 0
    assert layout_cues(VERSE)["verse_lines"] == 1.0 and layout_cues(PROSE)["verse_lines"] == 0
    assert layout_cues(INTERVIEW)["speaker_lines"] == 1.0 and layout_cues(PROSE)["speaker_lines"] == 0
    assert all(0 <= v <= 1 for text in (CODE, VERSE, PROSE, INTERVIEW, "") for v in layout_cues(text).values())


PLAY = (
    "SCENE I.\n\nThe House of Justice Headstrong.\n\nLucy.  To whom are you speaking, William?\n\n"
    "Will.  Only an old man, miss.\n\nLUCY (aside).  Poor old man! how he trembles.\n\n"
    "Old M.  You are very good, miss.\n\nLucy.  Pray sit down.\n\nOld M.  As long as he pleases.\n"
)
NOVEL = (
    "CHAPTER I. The Arrival\n\nMr. Darcy bowed and said nothing.\n\nMrs. Bennet was delighted.\n\n"
    "Dr. Hood looked out of the window.\n\nSept. 3 was a Tuesday, and it rained.\n\nYes. She would go.\n"
)
WHITMAN = (  # long lines, most opening with a capital: verse; prose wrapped at 60 characters opens few
    "Of physiology from top to toe I sing, not physiognomy alone,\n"
    "Nor brain alone is worthy for the Muse, I say the Form complete\n"
    "is worthier far, the Female equally with the Male I sing.\n"
    "Of Life immense in passion, pulse, and power, cheerful, for freest\n"
    "action form'd under the laws divine, the Modern Man I sing.\n"
)
WRAPPED = (
    "The committee met on Tuesday and discussed the budget at length\n"
    "before the members voted on the plan, which passed by a margin\n"
    "of two votes after a debate that lasted well into the evening\n"
    "and left several of the members unhappy with the final result.\n"
)


REVIEW = (  # a film's title with a colon, opening several lines: one name, no conversation
    "Scanners II: The New Order is just as good as the first film.\n"
    "Scanners II: The New Order has some imaginative gory scenes.\nThe plot is a new take on the series.\n"
)


def test_a_play_scripts_turns_are_speaker_lines_and_an_abbreviation_opening_a_sentence_is_not():
    assert layout_cues(REVIEW)["speaker_lines"] == 0.0
    assert layout_cues(INTERVIEW.replace("SMITH", "HOST"))["speaker_lines"] == 0.0  # one speaker: no turns
    assert layout_cues(PLAY)["speaker_lines"] == 1.0  # 5 of 8 lines (Will. speaks once: not counted)
    assert layout_cues(NOVEL)["speaker_lines"] == 0.0  # "Yes." opens one paragraph: no speaker's turns
    assert has_required_cue("transcript", layout_cues(PLAY))
    assert not has_required_cue("transcript", layout_cues(NOVEL))


def test_long_verse_lines_that_open_with_capitals_are_verse_and_wrapped_prose_is_not():
    assert layout_cues(WHITMAN)["verse_lines"] == 1.0 and has_required_cue("poetry", layout_cues(WHITMAN))
    assert layout_cues(WRAPPED)["verse_lines"] == 0.0


MAIL = "From: Ann <ann@example.org>\nSubject: Re: the build\n\n> It fails here.\nIt works for me.\n\nAnn"


def test_mail_header_lines_are_mail_not_speaker_turns():
    cues = layout_cues(MAIL)
    assert cues["mail_lines"] == 1.0 and cues["speaker_lines"] == 0.0
    assert layout_cues(">>> 1 + 1\n2\n>>> print(3)\n3")["mail_lines"] == 0.0  # a Python prompt is no reply


NEWS = "Officials said on Monday that the bridge will close for repairs, according to the city's transport office."
SIGN_OFF = "Jane Roe teaches urban planning. The views expressed in this article are the author's own."


def test_an_article_that_declares_its_views_its_authors_own_is_opinion():
    signed = layout_cues(f"{NEWS}\n\n{SIGN_OFF}")
    assert signed["views_own"] == 1.0 and layout_cues(NEWS)["views_own"] == 0.0
    for sign_off in (
        "Opinions expressed by Forbes contributors are their own.",
        "The opinions expressed in this commentary are solely those of the author.",
        "VIEWS EXPRESSED HERE ARE THE WRITER’S OWN",
    ):
        assert layout_cues(sign_off)["views_own"] == 1.0, sign_off
    for not_one in (
        "He expressed his views on his own.",
        "Views expressed at the meeting were mixed.",
        "The author's own views are expressed here.",
        "I was sent this blender for free; all opinions expressed are my own.",  # a sponsored review's disclosure
    ):
        assert layout_cues(not_one)["views_own"] == 0.0, not_one
    model = FormatModel.load()
    sounds_like_news = {name: 0.1 for name in STEERABLE_FORMATS} | {"news": 0.45, "opinion": 0.3}
    report, op_ed = model.scores(sounds_like_news, layout_cues(NEWS)), model.scores(sounds_like_news, signed)
    assert max(report, key=report.get) == "news" and max(op_ed, key=op_ed.get) == "opinion"
    assert model.contributions("opinion", signed)["views_own"] > 0


def test_gated_formats_need_their_cue():
    model = FormatModel.load()
    similar_to_poetry = {name: 0.1 for name in STEERABLE_FORMATS} | {"poetry": 0.9}
    prose = model.scores(similar_to_poetry, layout_cues(PROSE))
    assert prose["poetry"] == -np.inf and max(prose, key=prose.get) != "poetry"
    verse = model.scores(similar_to_poetry, layout_cues(VERSE))
    assert max(verse, key=verse.get) == "poetry"
    similar_to_transcript = {name: 0.1 for name in STEERABLE_FORMATS} | {"transcript": 0.9}
    assert model.scores(similar_to_transcript, layout_cues(PROSE))["transcript"] == -np.inf  # no speaker turns
    interview = model.scores(similar_to_transcript, layout_cues(INTERVIEW))
    assert max(interview, key=interview.get) == "transcript"
    similar_to_email = {name: 0.1 for name in STEERABLE_FORMATS} | {"email": 0.9}
    assert model.scores(similar_to_email, layout_cues(PROSE))["email"] == -np.inf  # no mail lines
    mail = model.scores(similar_to_email, layout_cues(MAIL))
    assert max(mail, key=mail.get) == "email"
    similar_to_blog = {name: 0.1 for name in STEERABLE_FORMATS} | {"personal-blog": 0.9}
    assert model.scores(similar_to_blog, layout_cues(PROSE))["personal-blog"] == -np.inf  # nobody speaks for itself
    diary = model.scores(
        similar_to_blog, layout_cues("I spent my weekend in the hills. My legs still ache, and I loved it.")
    )
    assert max(diary, key=diary.get) == "personal-blog"
    assert set(REQUIRED_CUES) <= set(STEERABLE_FORMATS)


ABOUT_A_LANGUAGE = (  # an encyclopedia article about code: no code in it
    "Pascal is a programming language designed by Niklaus Wirth in 1970 for teaching structured programming. "
    "It influenced Modula-2 and Ada, and Borland's compilers made it popular on personal computers."
)
REFERENCE = (  # a language reference: prose that names code, with no code lines
    "The id() function returns an integer for every object, and the __dict__ attribute holds a module's names. "
    "Writing m.__dict__['a'] defines m.a, and x == y compares values where x is y compares identities."
)


def test_code_needs_code_lines_or_code_in_its_sentences():
    assert layout_cues(ABOUT_A_LANGUAGE)["code_tokens"] == 0 and layout_cues(REFERENCE)["code_tokens"] == 1.0
    assert has_required_cue("code", layout_cues(CODE)) and has_required_cue("code", layout_cues(REFERENCE))
    assert not has_required_cue("code", layout_cues(ABOUT_A_LANGUAGE))
    similar_to_code = {name: 0.1 for name in STEERABLE_FORMATS} | {"code": 0.9, "encyclopedic": 0.5}
    model = FormatModel.load()
    article = model.scores(similar_to_code, layout_cues(ABOUT_A_LANGUAGE))
    assert article["code"] == -np.inf and max(article, key=article.get) == "encyclopedic"
    for text in (CODE, REFERENCE):
        scores = model.scores(similar_to_code, layout_cues(text))
        assert max(scores, key=scores.get) == "code"
    # the batch path gates the same way
    names = list(similar_to_code)
    texts = [ABOUT_A_LANGUAGE, REFERENCE, CODE]
    matrix = model.score_matrix(names, np.array([list(similar_to_code.values())] * 3), cue_matrix(texts))
    assert [names[j] for j in matrix.argmax(1)] == ["encyclopedic", "code", "code"]


def test_rating_score_rises_with_evidence_and_never_lowers_the_lexicon():
    head = RatingHead.load()
    assert head.coef.shape == (len(FEATURES),)
    clean = head.score(rating_features(0.02, {}, 20))
    crude = head.score(rating_features(0.95, {"strong": 2, "sexual": 1}, 20))
    assert 0 <= clean < crude <= 1
    assert head.rating(clean, "G") == "G"
    assert head.rating(clean, "R") == "R"  # the lexicon's R stands whatever the score
    cuts = [head.thresholds[r] for r in RATINGS[1:]]
    assert cuts == sorted(cuts)
    # Per 50 words: the same hits in a long document weigh less than in a one-liner.
    assert rating_features(0.5, {"violence": 3}, 2000)[-1] < rating_features(0.5, {"violence": 3}, 20)[-1]


def test_sentiment_mix_moves_with_each_part():
    head = SentimentHead.load()
    doc = np.zeros_like(head.coef)
    negative, neutral, positive = (head.score(v, doc)[0] for v in (-0.8, 0.0, 0.8))
    assert -1 <= negative < neutral < positive <= 1
    toward_head = head.coef / np.linalg.norm(head.coef)
    assert head.score(0.0, toward_head)[1] > head.score(0.0, -toward_head)[1]


def test_tag_candidates_merge_inflections_and_drop_generic_words():
    tagger = KeywordTagger(lambda phrases: np.zeros((len(phrases), 4)), frozenset({"thing"}))
    cands = tagger.candidates_of("The films and the film. Scenes, a scene, more scenes. Things and a thing.")
    assert "film" in cands and "scene" in cands
    assert not {"films", "scenes", "thing", "things"} & set(cands)


def test_tag_candidates_are_words_that_can_describe_a_document():
    """Issue 30: adverbs and verbs (also as lemmas: "having" -> "have"), hyphen fragments and news-agency
    names were tags; a name or rare word the part-of-speech tables do not know stays."""
    taxonomy = Taxonomy(TAXONOMY)
    tagger = KeywordTagger(lambda phrases: np.zeros((len(phrases), 4)), taxonomy.generic_tags)
    text = (
        "MOSCOW (TASS) - Having especially strong winds, the cyclone hit Vladivostok. Especially the cyclone, "
        "having hit, really hit hard. MS-13 members fled. Reuters and CNN reported the cyclone in Vladivostok. "
        "On Monday in March the cyclone really seemed especially strong."
    )
    cands = set(tagger.candidates_of(text))
    assert {"cyclone", "vladivostok"} <= cands
    assert (
        not {"especially", "have", "really", "seem", "ms-", "ms", "tass", "reuters", "cnn", "monday", "march"} & cands
    )


def test_archaic_function_words_are_no_tags():
    """Issue 30: `thou` was the top tag of 64% of the Meditations' passages (an old translation's pronoun)."""
    tagger = KeywordTagger(lambda phrases: np.zeros((len(phrases), 4)), Taxonomy(TAXONOMY).generic_tags)
    text = (
        "Thou art a soul; thy reason is thine own. Unto thee the gods have given reason, and thou hast it. "
        "Whence comes thy trouble? Thy reason hath the power to judge, and thy soul doth judge."
    )
    cands = set(tagger.candidates_of(text))
    assert {"soul", "god"} <= cands
    assert not {"thou", "thy", "thee", "thine", "hath", "doth", "hast", "unto", "whence"} & cands


def test_old_spellings_of_words_that_cannot_describe_are_no_tags():
    """Issue 30: the First Folio's `haue` (have) was the top tag of 21% of the dev plays' passages; its spellings
    of stop words and verbs (`heere`, `vpon`, `speake`), the stage direction `Exeunt` and the speech prefixes
    (`Ham.`, `Hor.`: Hamlet and Horatio speaking) said nothing either."""
    generic = Taxonomy(TAXONOMY).generic_tags
    tagger = KeywordTagger(lambda phrases: np.zeros((len(phrases), 4)), generic)
    text = (
        "Hor. Heere comes the Ghost: I haue seene the Ghost vpon the platforme. Speake to the Ghost, Horatio.\n"
        "Ham. I heare the Ghost; it hath beene heere before. The Ghost will speake vpon my soule. Exeunt.\n"
        "Hor. The Ghost of the King haue I seene, vpon my soule; and Wittenberg is farre."
    )
    cands = set(tagger.candidates_of(text))
    assert {"ghost", "king", "soule", "wittenberg", "horatio"} <= cands
    assert not {"haue", "heere", "vpon", "speake", "heare", "beene", "seene", "exeunt", "ham", "hor"} & cands
    assert candidates_batch([text], generic) == [tagger.candidates_of(text)]


def test_taxonomy_rejects_unknown_formats(tmp_path):
    edited = tmp_path / "taxonomy.toml"
    shutil.copy(TAXONOMY, edited)
    edited.write_text(edited.read_text().replace("[formats.poetry]", "[formats.limerick]"))
    with pytest.raises(ValueError, match=r"\['limerick'\] are not formats"):
        Taxonomy(edited)
    taxonomy = Taxonomy(TAXONOMY)
    assert len(taxonomy.topics) == 24 and set(taxonomy.formats) == set(STEERABLE_FORMATS)


def test_factual_formats_get_their_own_neutral_band(tmp_path):
    taxonomy = Taxonomy(TAXONOMY)
    assert {"news", "encyclopedic", "code"} <= taxonomy.factual_formats and "review" not in taxonomy.factual_formats
    assert [taxonomy.sentiment_label(s, "review") for s in (-0.15, 0.05, 0.15)] == ["negative", "neutral", "positive"]
    assert [taxonomy.sentiment_label(s, "news") for s in (-0.15, 0.15, 0.25)] == ["neutral", "neutral", "positive"]
    edited = tmp_path / "taxonomy.toml"
    edited.write_text(TAXONOMY.read_text().replace('factual_formats = ["news"', 'factual_formats = ["gossip", "news"'))
    with pytest.raises(ValueError, match=r"taxonomy.toml: \[calibration\] factual_formats \['gossip'\]"):
        Taxonomy(edited)
    edited.write_text(TAXONOMY.read_text().replace("factual_formats", "# factual_formats"))
    assert Taxonomy(edited).factual_formats == frozenset()  # a taxonomy without the key keeps one band


def test_format_evidence_names_the_runner_up_and_the_cues_that_moved_the_choice():
    """What `condpt audit show` prints under the format: the chosen and next formats' scores, and the layout
    cues that added most to the chosen one (zero contributions and impossible formats left out)."""
    from condpt_dagster.labelers.format import FormatModel, evidence

    model = FormatModel(scale=1.0, hand={"review": {"first_person": 0.5}, "news": {"digits": 0.3}}, fitted={})
    cues = {"first_person": 0.8, "digits": 0.1, "narrative": 0.0}
    scores = model.scores({"review": 0.2, "news": 0.25, "poetry": 0.9}, cues)  # poetry needs verse lines
    best = max(scores, key=scores.__getitem__)
    assert best == "review"
    assert evidence(model, scores, cues, best) == {"format:review": 0.6, "format:news": 0.28, "cue:first_person": 0.4}


def test_batched_mmr_picks_what_mmr_picks_document_by_document():
    from condpt_dagster.labelers.tags import mmr, mmr_batch

    rng = np.random.default_rng(0)
    for _ in range(50):
        cands = rng.normal(size=(6, 12, 16))
        cands /= np.linalg.norm(cands, axis=-1, keepdims=True)
        docs = rng.normal(size=(6, 16))
        counts, k = rng.integers(0, 13, size=6), int(rng.integers(1, 15))
        got = mmr_batch(docs, cands, counts, k, 0.5)
        for i in range(6):
            want = mmr(docs[i], cands[i, : counts[i]], k, 0.5) if counts[i] else []
            assert [j for j in got[i] if j >= 0] == want
