"""The composite labeler: label quality on the sample corpus, fallbacks on odd input, versioning."""

from __future__ import annotations

import re
import shutil
from collections import Counter

import numpy as np
import pytest
import torch

from condpt_dagster.core.settings import IngestSettings
from condpt_dagster.labelers import build_labeler
from condpt_dagster.labelers.composite import CompositeLabeler, CompositeSettings
from condpt_dagster.labelers.encoder import (
    ModelIntegrityError,
    SentenceEncoder,
    default_model_dir,
    padded,
    token_id_tokenizer,
)
from condpt_dagster.labelers.rules import readability_grade, rule_labels, rule_labels_batch, split_sentences
from condpt_dagster.labelers.tags import lemma_phrase
from condpt_dagster.labelers.taxonomy import TAXONOMY
from condpt_dagster.labelers.text_reading import windows
from condpt_dagster.sample_corpus import sample_documents
from condpt_dagster.stages.raw_documents import normalize_texts

RATINGS = {"G", "PG", "PG-13", "R"}


@pytest.fixture(scope="module")
def labeler() -> CompositeLabeler:
    return CompositeLabeler()


@pytest.fixture(scope="module")
def labeled_sample(sample_wheels, labeler):
    docs = sample_documents(sample_wheels, 160, seed=7)
    texts = normalize_texts([d["text"] for d in docs], IngestSettings())
    return docs, labeler.label(texts)


def test_topics_and_formats_separate_news_from_reviews(labeled_sample):
    docs, labels = labeled_sample
    is_review = np.array([d["meta"]["domain"] == "review" for d in docs])
    says_entertainment = np.array([lab.topics[:1] == ["entertainment"] for lab in labels])
    says_review = np.array([lab.format == "review" for lab in labels])
    topic_accuracy = float((is_review == says_entertainment).mean())
    format_accuracy = float((is_review == says_review).mean())
    news_format = float(np.mean([lab.format == "news" for r, lab in zip(is_review, labels, strict=True) if not r]))
    print(f"news vs review on {len(docs)} documents: topic {topic_accuracy:.3f}, format {format_accuracy:.3f}")
    assert topic_accuracy >= 0.78 and format_accuracy >= 0.8 and news_format >= 0.5


def test_sentiment_agrees_with_review_labels(labeled_sample):
    docs, labels = labeled_sample
    pairs = [
        (d["meta"]["sentiment"], lab.sentiment)
        for d, lab in zip(docs, labels, strict=True)
        if d["meta"]["domain"] == "review"
    ]
    accuracy = sum(truth == guess for truth, guess in pairs) / len(pairs)
    print(f"sentiment accuracy on {len(pairs)} reviews: {accuracy:.3f}")
    assert accuracy >= 0.75
    scores = [lab.scores["sentiment"] for lab in labels]
    assert all(-1 <= s <= 1 for s in scores) and len(set(scores)) > len(scores) / 2  # continuous, not 3 values


def test_every_document_gets_complete_labels(labeled_sample):
    docs, labels = labeled_sample
    for lab in labels:
        assert lab.rating in RATINGS and lab.synopsis and len(lab.synopsis) <= 200
        assert len(lab.tags) <= 10 and lab.language == "en" and 0 <= lab.scores["rating"] <= 1
        assert all(-1 <= lab.scores[f"tag:{t}"] <= 1 for t in lab.tags if f"tag:{t}" in lab.scores)
        lemmas = [lemma_phrase(t) for t in lab.tags]
        assert len(set(lemmas)) == len(lemmas), lab.tags  # no film next to films
    # Only snippets made of stop words ("been there, done that") have no keyword to offer.
    assert sum(bool(lab.tags) for lab in labels) >= 0.95 * len(labels)
    news = [lab for d, lab in zip(docs, labels, strict=True) if d["source"] == "news"]
    assert len({lab.topics[0] for lab in news if lab.topics}) >= 4  # news spreads over the taxonomy
    assert sum(lab.rating == "G" for lab in labels) > 0.6 * len(labels)  # clean text stays G


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("", "und"),
        ("!!! ... ??? --- ***", "und"),
        ("<div><p></p></div>", "und"),
        ("😀😂🎉🔥 👍👍", "und"),
        (
            "Der Bundestag hat am Donnerstag ein neues Gesetz zur Förderung erneuerbarer Energien beschlossen. "
            "Die Opposition kritisierte den Entwurf scharf.",
            "de",
        ),
    ],
)
def test_odd_input_gets_a_defined_label_row(labeler, text, language):
    [lab] = labeler.label([text])
    assert lab.language == language
    assert lab.rating in RATINGS and lab.synopsis  # never empty
    if language == "und":
        assert lab.topics == [] and lab.tags == [] and lab.sentiment == "neutral" and lab.error
        assert lab.format == "unknown"
    else:
        assert lab.error is None and lab.tags


def test_very_long_document_is_read_in_bounded_windows(labeler):
    sentence = "The committee debated the national budget and the new tax law for many hours. "
    text = sentence * 15_000  # ~200,000 words
    sentences = split_sentences(text)
    wins = windows(sentences, 2000, 3, 64)
    assert len(wins) == 3 and all(sum(len(s.split()) for s in w) <= 2000 for w in wins)
    before = labeler.encoder.tokens_encoded
    [lab] = labeler.label([text])
    assert labeler.encoder.tokens_encoded - before < 3 * 64 * 40  # bounded, not 200,000 words
    assert lab.length == "very long" and lab.topics and lab.topics[0] in {"politics", "finance-business"}


def test_rating_rules():
    assert rule_labels("A calm walk in the park with friends on a sunny day.").rating == "G"
    assert rule_labels("Damn, the weather was bad and the food was crap.").rating == "PG"
    mature = rule_labels("There are several sex scenes and nudity, and the fuck count is high.")
    assert mature.rating == "PG-13" and mature.sfw
    explicit = rule_labels("This is porn: hardcore sex, orgasm after orgasm.")
    assert explicit.rating == "R" and not explicit.sfw
    assert rule_labels("What the fuck, fuck this, fucking shit, fuck off.").rating == "R"
    news = rule_labels("God bless America, said the senator, who is gay, at a hell of a rally.")
    assert news.rating == "PG"  # allowlisted words alone do not make it PG-13


def test_version_tracks_taxonomy_and_config(tmp_path):
    base = CompositeLabeler()
    edited = tmp_path / "taxonomy.toml"
    shutil.copy(TAXONOMY, edited)
    edited.write_text(re.sub(r"min_score = [0-9.]+", "min_score = 0.3", edited.read_text()))
    assert CompositeLabeler(CompositeSettings(taxonomy_path=str(edited))).version() != base.version()
    assert CompositeLabeler(CompositeSettings(quantize=True)).version() != base.version()
    assert CompositeLabeler().version() == base.version()
    assert build_labeler("composite").version() == base.version()


def test_every_labelers_version_tracks_the_rule_labels(monkeypatch):
    """Language, length and readability come from rules.py for every labeler (the generative and fine-tuned
    ones too, which have no revision of their own for them)."""
    from condpt_dagster.labelers import rules
    from condpt_dagster.labelers.base import Labeler

    class RulesOnly(Labeler):
        name = "rules-only"

        def fingerprint(self):
            return {}

        def label(self, texts):
            raise NotImplementedError

    before = RulesOnly().version()
    monkeypatch.setattr(rules, "REVISION", rules.REVISION + "-next")
    assert RulesOnly().version() != before


def test_encoder_weights_are_verified(tmp_path):
    fake = tmp_path / "model"
    shutil.copytree(default_model_dir(), fake)
    with open(fake / "model.safetensors", "r+b") as fh:
        fh.seek(10_000)
        fh.write(b"tampered")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        SentenceEncoder(fake)
    with pytest.raises(ValueError, match="unknown labeler"):
        build_labeler("magic")


FICTION = (
    '"I never said I would stay," she whispered, turning away from the window. He looked at her for a long '
    "moment and said nothing. The rain had stopped, and somewhere below a carriage rolled past. She thought of "
    'her sister, of the letter she had burned, and of the promise he had made. "Then go," he said at last.'
)
CODE = "def total(items):\n    result = 0\n    for item in items:\n        result += item.price\n    return result\n"
LEGAL = (
    "The licensee shall not sublicense, distribute or sell copies of the software. THE SOFTWARE IS PROVIDED "
    "WITHOUT WARRANTY OF ANY KIND. In no event shall the authors be liable for any claim, damages or other "
    "liability arising from the use of the software, pursuant to section 4 hereof."
)


NEWS_QUOTES = (
    "LONDON — The government said on Tuesday that it would raise the minimum wage by 6 percent next April, "
    "a move officials said would affect about two million workers.\n"
    '"This is a fair deal for working families," the finance minister told reporters outside parliament.\n'
    'Opposition leaders said the plan did not go far enough. "We will keep pushing for more," one lawmaker '
    "said, according to a statement released by the party.\n"
    "Business groups warned that smaller firms could struggle with the higher costs, a spokesman for the "
    "chamber of commerce said."
)
SPEECH = (
    "Mr. Speaker, I rise today to speak in support of this bill, which matters to every family in my "
    "constituency. I thank the honourable Member opposite for her kind words, but I must tell the House that "
    "the measures before us do not go far enough. For too long we have asked our nurses, our teachers and our "
    "carers to do more with less. They have answered that call, and now it is our turn to answer theirs. I "
    "urge honourable Members on all sides to support the amendment, so that the promises we made to the "
    "people who sent us here are kept."
)
INTERVIEW = (
    "INTERVIEWER: When did you first notice the water rising?\n"
    "MARSH: Around two in the morning. The dog woke us up.\n"
    "INTERVIEWER: And what did you do?\n"
    "MARSH: We carried the kids upstairs and waited for the boats.\n"
    "INTERVIEWER: How long did you wait?\n"
    "MARSH: Six hours, maybe seven. It felt like a week."
)
MAIL = (
    "From: Dana Whitfield <dana@example.org>\n"
    "To: build-list@example.org\n"
    "Subject: Re: nightly build broken again\n"
    "Date: Tue, 08 Oct 2002 23:15:07 -0700\n\n"
    "> The nightly build has failed three nights in a row on the ARM box.\n"
    "> Does anyone know what changed?\n\n"
    "I think it was my patch to the linker script, sorry. I will back it out tonight and send a fixed\n"
    "version to the list tomorrow. If it still fails after that, let me know and I will take a look.\n\n"
    "Thanks,\nDana"
)

ESSAY = (
    "There is a particular kind of quiet that settles on a town after the last train has gone. It is easy to "
    "mistake it for loneliness, but it is closer to attention: the streets give back what the noise of the day "
    "had hidden. Perhaps this is why so many writers have praised walking at night. Most of us are too busy to "
    "notice how little we notice. Habit is a kind of blindness, and the cure for it is not novelty but patience, "
    "the willingness to look again at what we believed we already knew. The old philosophers understood this "
    "better than we do; they thought of wisdom less as knowing more than as seeing plainly."
)

ENCYCLOPEDIC = (
    "The Danube is the second-longest river in Europe, after the Volga. It rises in the Black Forest of Germany "
    "and flows for 2,850 kilometres through ten countries before it empties into the Black Sea. The river formed "
    "a frontier of the Roman Empire for four centuries, and it remains an important waterway for trade. Its basin "
    "covers about 800,000 square kilometres and is home to 83 million people. Four national capitals, Vienna, "
    "Bratislava, Budapest and Belgrade, stand on its banks."
)

# a critic's one-line blurb: a verdict on a work in one sentence, no first person, no stars
CRITIC_BLURB = "A handsome but hollow costume drama that mistakes solemnity for depth."

LICENCE = (
    "This document is distributed under the Example Public License, version 2. You may copy and redistribute it "
    "in any medium, provided that you keep this copyright notice intact and license any modified version under "
    "the same terms and conditions. Anyone who receives a copy is licensed to use it in accordance with the "
    "License. The licensor is not liable for any damage caused by its use."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MAIL, "email"),  # its From: / Subject: lines are a mail's headers, not speaker turns
        (ESSAY, "essay"),  # reflective prose: neither a story nor an opinion piece on a current issue
        (FICTION, "fiction"),
        (CODE, "code"),
        (LEGAL, "legal"),
        (LICENCE, "legal"),  # a licence's own words (License, copyright, terms and conditions) without "shall"
        (NEWS_QUOTES, "news"),  # quotations on lines of their own are not speaker turns
        (ENCYCLOPEDIC, "encyclopedic"),  # names and numbers without a reporter's "said": an article
        (SPEECH, "speech"),  # one speaker addressing the House: a speech, not a transcript
        (INTERVIEW, "transcript"),
        (CRITIC_BLURB, "review"),
    ],
)
def test_format_reads_the_genre(labeler, text, expected):
    [lab] = labeler.label([text])
    assert lab.format == expected, lab.scores


def test_factual_formats_are_neutral_unless_their_words_are_clearly_polar(labeler):
    grim = (
        "The earthquake killed at least 300 people and destroyed thousands of homes, officials said on Monday. "
        "Rescuers said the death toll was likely to rise as the devastating tragedy left survivors in despair."
    )
    article, code, news, review = labeler.label([ENCYCLOPEDIC, CODE, grim, "A wonderful, moving film. I loved it."])
    factual = labeler.taxonomy.factual_formats
    for lab in (article, code, news):
        assert lab.format in factual, lab.format
        assert lab.scores["sentiment"] == lab.scores["sentiment:lexicon"]  # the review-trained head left out
    assert (article.sentiment, code.sentiment) == ("neutral", "neutral")
    assert news.sentiment == "negative" and news.scores["sentiment"] <= -0.2
    assert review.format not in factual and review.sentiment == "positive"
    assert review.scores["sentiment"] != review.scores["sentiment:lexicon"]  # the mix


def test_learned_rating_catches_innuendo_without_swear_words(labeler):
    joke = "What is the difference between a drug dealer and a hooker? A hooker can wash her crack and sell it again."
    clean, innuendo = labeler.label(
        ["Why did the scarecrow win an award? Because he was outstanding in his field.", joke]
    )
    assert rule_labels(joke).rating == "G"  # no word the lexicon rates on its own...
    assert clean.rating == "G" and innuendo.rating != "G"  # ...the learned score does
    assert innuendo.scores["rating"] > clean.scores["rating"] + 0.3


def test_tags_are_lemmatized(labeler):
    text = (
        "The films were shot on location. Both films use long scenes, and the scenes in the desert are the best. "
        "Critics loved the film and its scene in the rain; the movies that followed copied these scenes."
    )
    [lab] = labeler.label([text])
    assert "film" in lab.tags or "scene" in lab.tags
    assert not {"films", "scenes", "movies"} & set(lab.tags)


def test_no_sentence_ends_at_an_abbreviation_and_the_synopsis_is_a_whole_one(labeler):
    """Titles, Latin abbreviations and initials end no sentence ("My hon." was a Commons speech's synopsis, and
    each such period lowered the readability grade); a line break still does."""
    whole = [
        "My hon. Friend the Member for Livingston (Mr. Cook) asked about hospital waiting lists in Scotland.",
        "Dr. Smith told the committee that waiting lists in the U.S. and in Scotland had grown, e.g. in Fife.",
        "The Rt. Hon. Member for Fife, Mrs. Brown, asked when J. R. Jones would publish the hospital figures.",
    ]
    assert split_sentences(" ".join(whole)) == whole
    assert split_sentences("Yours,\nMr.\nSmith") == ["Yours,", "Mr.", "Smith"]
    assert split_sentences('"Come along," said I. "Where is he?"') == ['"Come along," said I.', '"Where is he?"']
    # nor do they end a sentence for the readability grade: the same as without those periods
    assert readability_grade(" ".join(whole)) == readability_grade(" ".join(s.replace(". ", " ") for s in whole))
    [lab] = labeler.label([" ".join(whole)])
    assert lab.synopsis in whole


def test_readability_reads_sentences_up_to_the_200th_word():
    """The sample ends at the 200th word itself, not where that word first occurs ("sat" in the first sentences),
    which had left out most sentence ends and raised the grade."""
    text = "Then the dog ran home. " + "A cat sat on a mat. " * 60
    first_200_words = "Then the dog ran home. " + "A cat sat on a mat. " * 32 + "A cat sat"
    assert readability_grade(text) == readability_grade(first_200_words) < 3
    assert rule_labels_batch([text], language_chars=300)[0].readability == readability_grade(text)


def test_rule_workers_give_the_same_labels(labeler, sample_wheels):
    texts = [d["text"] for d in sample_documents(sample_wheels, 24, seed=5)]
    parallel = CompositeLabeler(CompositeSettings(rule_workers=2), encoder=labeler.encoder)
    try:
        assert parallel.version() == labeler.version()  # how the work is spread is not part of the version
        assert parallel.label(texts) == labeler.label(texts)  # dataclasses: every field compared
        assert parallel._rule_pool is not None  # the batch really went through the worker processes
    finally:
        if parallel._rule_pool is not None:
            parallel._rule_pool.shutdown()


def test_encoder_token_ids_are_transformers_ids(labeler, sample_wheels):
    """The encoder tokenizes with the Rust tokenizer directly (faster); ids must be what transformers' call gave:
    special tokens, truncation at 256 (tokenizer.json says 128), no padding (tokenizer.json pads to 128)."""
    encoder = labeler.encoder
    texts = [d["text"] for d in sample_documents(sample_wheels, 40, seed=8)]
    texts += [s for t in texts for s in split_sentences(t)] + ["", " ", "naïve café: 東京 😀", "word " * 400]
    expected = encoder.tokenizer(texts, truncation=True, max_length=256, add_special_tokens=True)["input_ids"]
    ids = encoder.tokenize(texts)
    assert ids == expected
    assert max(map(len, ids)) == 256 and min(map(len, ids)) == 2  # truncated, unpadded, [CLS] [SEP] kept


def test_encoder_input_tensors_are_right_padded_ids_and_mask():
    batch = [[101, 7, 102], [101, 102], [101, 5, 6, 7, 102]]
    input_ids, mask = padded(batch)
    assert input_ids.dtype == mask.dtype == torch.int64
    assert input_ids.tolist() == [[101, 7, 102, 0, 0], [101, 102, 0, 0, 0], [101, 5, 6, 7, 102]]
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]


def test_half_precision_is_refused_on_cpu_and_changes_the_version():
    with pytest.raises(ValueError, match="needs a CUDA device"):
        CompositeLabeler(CompositeSettings(precision="bf16")).encoder  # noqa: B018
    assert CompositeLabeler(CompositeSettings(precision="bf16")).version() != CompositeLabeler().version()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_encoder_on_cuda_agrees_with_fp32_on_cpu(labeler, sample_wheels):
    texts = [d["text"] for d in sample_documents(sample_wheels, 64, seed=6)]
    gpu = CompositeLabeler(CompositeSettings(device="cuda", precision="bf16", rule_workers=2))
    cpu_labels, gpu_labels = labeler.label(texts), gpu.label(texts)
    same_topic = sum(a.topics[:1] == b.topics[:1] for a, b in zip(cpu_labels, gpu_labels, strict=True))
    assert same_topic / len(texts) >= 0.9
    assert [a.rating for a in cpu_labels] == [b.rating for b in gpu_labels]  # rules run on CPU either way


def test_no_tag_is_on_a_large_share_of_the_sample_corpus(labeler, labeled_sample):
    """Issue 30: `suspenseful` was on 45% of the demo corpus (every other review) and generic words, agency
    names and fragments were tags. Tags must tell documents apart. The target, at most 15% of the demo corpus
    for any tag, is measured by bench/studies/label_quality.py (12.4%); this uncleaned sample is 60% reviews (the
    demo's clean shards 48%), so `film`, on about a quarter of the reviews, may reach 20% here."""
    _, labels = labeled_sample
    counts = Counter(t for lab in labels for t in set(lab.tags))
    tag, n = counts.most_common(1)[0]
    assert n <= 0.2 * len(labels), (tag, n, counts.most_common(8))
    moods = sum(n for t, n in counts.items() if t in labeler.taxonomy.moods)
    assert moods <= 0.15 * len(labels), {t: counts[t] for t in labeler.taxonomy.moods}
    emitted = {t for lab in labels for t in lab.tags}
    assert not emitted & {"have", "especially", "really", "right", "ms-", "tass", "cnn", "reuters", "jazeera"}


def test_a_mood_is_tagged_only_when_it_clearly_wins(labeler):
    """The mood with the highest raw similarity is not enough: it must stand mood_min_z standard deviations
    above its own mean and beat the runner-up's z by mood_margin_z."""
    moods = list(labeler.taxonomy.moods)
    center, scale = (np.asarray(v) for v in labeler.taxonomy.mood_scale)
    matrix = labeler._mood_matrix
    romantic = moods.index("romantic")

    def doc_with(z: np.ndarray) -> np.ndarray:  # a document vector whose mood similarities have these z-scores
        target = center + z * scale
        return np.linalg.lstsq(matrix, target, rcond=None)[0]

    clear = np.zeros(len(moods))
    clear[romantic] = 3.0
    assert labeler._mood(doc_with(clear)) == "romantic"
    weak = clear.copy()
    weak[romantic] = 1.5  # the top mood, but not far above its usual similarity
    assert labeler._mood(doc_with(weak)) is None
    tied = clear.copy()
    tied[moods.index("sad")] = 2.9  # far above usual, but so is another mood
    assert labeler._mood(doc_with(tied)) is None


def test_label_batches_read_one_batch_ahead_and_equal_label(labeler, sample_wheels):
    """With rule workers, the next batch is handed to them before this one's labels are returned (so they
    read while this process encodes); the labels are label()'s, batch for batch."""
    texts = [d["text"] for d in sample_documents(sample_wheels, 36, seed=9)]
    batches = [texts[i : i + 12] for i in range(0, 36, 12)]
    parallel = CompositeLabeler(CompositeSettings(rule_workers=2), encoder=labeler.encoder)
    taken = []

    def feed():
        for batch in batches:
            taken.append(len(batch))
            yield batch

    try:
        stream = parallel.label_batches(feed())
        first = next(stream)
        assert len(taken) == 2  # batch 2 was already with the workers when batch 1's labels came back
        assert [first, *stream] == [labeler.label(b) for b in batches]
    finally:
        if parallel._rule_pool is not None:
            parallel._rule_pool.shutdown()


def test_a_model_folder_without_tokenizer_json_gets_transformers_tokenizer(tmp_path):
    """token_id_tokenizer reads tokenizer.json; without one it takes what transformers builds from vocab.txt."""
    folder = tmp_path / "model"
    shutil.copytree(default_model_dir(), folder, ignore=shutil.ignore_patterns("tokenizer.json", "*.safetensors"))
    texts = ["Hello there, naïve café!", "word " * 300, "", "東京 😀"]
    built, shipped = token_id_tokenizer(str(folder)), token_id_tokenizer(str(default_model_dir()))
    assert [e.ids for e in built.encode_batch(texts)] == [e.ids for e in shipped.encode_batch(texts)]
    assert len(built.encode("word " * 300).ids) == 256
