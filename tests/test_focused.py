"""The focused reader's stages: sentence ranking, choose-then-copy, NONE, phrasing, follow-ups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from pydantic import Field

from convention_qa.answering.assistant import Assistant
from convention_qa.answering.points import Points
from convention_qa.answering.prompts import Prompts
from convention_qa.answering.ranking import RankedSentence, SentenceRanker, sentences_of
from convention_qa.answering.reader import Reader, checked_translation
from convention_qa.answering.retrieval import Retriever
from convention_qa.answering.spans import copy_span
from convention_qa.answering.stages import Condense
from convention_qa.config import AnswerConfig
from convention_qa.contract import ChunkMeta, Passage, Stage, follow
from convention_qa.text import Query, looks_like_follow_up

from .fakes import HashingEmbeddings, ScriptedChatModel


class ChoosingChatModel(ScriptedChatModel):
    """A scripted model that also says how likely each numbered choice is."""

    choices: dict[str, float] = Field(default_factory=dict)

    def choice_probabilities(self, messages: list[BaseMessage], options: list[str]) -> dict[str, float]:
        self.probes.append(list(messages))
        return {o: self.choices.get(o, 0.0) for o in options}


def _passage(text: str, language: str = "id", score: float = 0.8, pid: str = "p1") -> Passage:
    return Passage(pid, text, ChunkMeta(doc_id=pid, title=pid, language=language), score)


def _ranked(text: str, language: str = "id") -> RankedSentence:
    passage = _passage(text, language)
    return RankedSentence(passage, 0, (0, len(text)), text, 1.0, 0.9, 0.5, 0.0)


def test_ranking_puts_a_cross_language_answer_sentence_in_the_top_three() -> None:
    # An English question over Indonesian sentences shares no words with them; the number it
    # names does, and it is what ranks the answer's sentence first among distractors.
    text = (
        "Lebih dari 1000 delegasi dari 110 negara menghadiri upacara penandatanganan. "
        "Kemarin pagi, 25 Oktober, 69 negara menandatangani Konvensi Hanoi. "
        "Konvensi itu terdiri dari 9 bab dan 68 pasal. "
        "Para delegasi sepakat bahwa adopsi Konvensi menandai langkah maju baru. "
        "Sesi pleno mendengarkan 19 pidato."
    )
    ranker = SentenceRanker(HashingEmbeddings())
    ranked = ranker.run(Query.read("On which day did 69 countries sign the convention?", "en"), [_passage(text)])
    assert any("69 negara menandatangani" in s.text for s in ranked[:3])
    assert "69 negara" in ranked[0].text


def test_a_web_address_does_not_rank_its_line_above_the_answer() -> None:
    # The article's "published by" line ends in a URL whose slug spells the question's words (and
    # holds digits, as if it had the number asked for); it is scored as if the URL were not there.
    text = (
        "Artikel ini diterbitkan oleh: baoquocte.vn, https://baoquocte.vn/cong-uoc-ha-noi-co-bao-nhieu-dieu-332240.html\n"
        "Dengan total 68 pasal, Konvensi ini mendorong kerja sama internasional."
    )
    ranked = SentenceRanker(None).run(Query.read("Công ước Hà Nội có bao nhiêu điều?", "vi"), [_passage(text)])
    assert "68 pasal" in ranked[0].text
    assert ranked[1].text.endswith("332240.html")  # the line itself is still there, whole


def test_ranking_drops_image_marks_and_splits_captions_from_paragraphs() -> None:
    text = "![]() |\n| Para delegasi menghadiri sesi diskusi. (Foto: Thanh Long) |\nDalam sambutannya, ia berbicara."
    found = [clean for _, clean in sentences_of(text)]
    assert found == ["Para delegasi menghadiri sesi diskusi. (Foto: Thanh Long)", "Dalam sambutannya, ia berbicara."]


def test_seed_question_ranks_the_signing_sentence_above_the_attendance_one(retriever: Retriever) -> None:
    query = Query.read("Berapa negara yang menandatangani Konvensi Hanoi?", "id")
    passages = retriever.retrieve(query, 4)
    ranked = SentenceRanker(retriever.embedder, retriever.idf).run(query, passages)
    assert "69 negara menandatangani" in ranked[0].text


def test_none_choice_abstains(retriever: Retriever) -> None:
    model = ChoosingChatModel(replies=["0"], choices={"0": 0.9, "1": 0.05})
    answer = Assistant(retriever, model).ask("Siapa yang membuka festival musik di Jakarta?")
    assert answer.abstained and answer.abstain_reason == "model"
    assert answer.check and answer.check["stage"] == "read"
    assert not answer.citations


def test_choice_then_copy_answers_and_cites_the_chosen_sentence(retriever: Retriever) -> None:
    model = ChoosingChatModel(replies=["1 | 69 negara"], choices={"1": 0.95, "0": 0.02})
    answer = Assistant(retriever, model).ask("Berapa negara yang menandatangani Konvensi Hanoi?")
    assert not answer.abstained, answer.check
    assert answer.text.startswith("69 negara [")
    [citation] = answer.citations
    assert any("69 negara menandatangani" in s for s in citation.supporting)
    assert answer.confidence == pytest.approx(0.95 / 0.97, abs=1e-3)
    assert set(answer.timings) >= {"condense", "retrieve", "rank", "read", "first_token"}


def test_an_unsure_choice_is_withheld(retriever: Retriever) -> None:
    model = ChoosingChatModel(replies=["1 | 69 negara"], choices={"1": 0.3, "2": 0.3, "0": 0.3})
    points = Points({"strict": 0.9, "balanced": 0.6, "helpful": 0.4})
    answer = Assistant(retriever, model, points=points).ask("Berapa negara yang menandatangani Konvensi Hanoi?")
    assert answer.abstained and answer.abstain_reason == "unsure"
    assert answer.withheld == "69 negara" and answer.check and answer.check["stage"] == "check"


def test_words_not_in_the_chosen_sentence_are_no_answer(retriever: Retriever) -> None:
    model = ChoosingChatModel(replies=["1 | Presiden Joko Widodo"], choices={"1": 0.99})
    answer = Assistant(retriever, model).ask("Siapa yang menandatangani Konvensi Hanoi?")
    assert answer.abstained and answer.abstain_reason == "uncited"


def test_a_translation_with_a_preamble_is_never_used() -> None:
    assert checked_translation("Berikut adalah jawaban dalam bahasa Indonesia:", "lima benua", "en") == ""
    assert checked_translation("Here is the translation: five continents", "lima benua", "en") == ""
    assert checked_translation("Dưới đây là bản dịch", "lima benua", "vi") == ""
    assert checked_translation("sixty delegates", "60 delegasi", "en") == "", "a number was lost"
    assert checked_translation("five continents", "lima benua", "en") == "five continents"
    assert checked_translation("English: five continents", "lima benua", "en") == "five continents"
    assert checked_translation("Tiếng Việt: năm châu lục", "lima benua", "vi") == "năm châu lục"
    # and the reader then gives the words as the sentence writes them
    model = ChoosingChatModel(replies=["1 | lima benua", "Here is the translation:"], choices={"1": 0.9})
    reading = Reader(model, Prompts()).run(
        Query.read("From how many continents were the delegates?", "en"),
        [_ranked("Para delegasi datang dari lima benua.")],
        "en",
    )
    assert reading.answer == "lima benua" and not reading.phrased


def test_a_cross_language_span_is_phrased_in_the_language_asked() -> None:
    model = ChoosingChatModel(replies=["1 | lima benua", "five continents"], choices={"1": 0.9})
    reading = Reader(model, Prompts()).run(
        Query.read("From how many continents were the delegates?", "en"),
        [_ranked("Para delegasi datang dari lima benua.")],
        "en",
    )
    assert reading.span == "lima benua" and reading.answer == "five continents (lima benua)" and reading.phrased


def test_a_date_answer_keeps_its_day_and_month() -> None:
    sentence = "Francis Fukuyama lahir pada 27 Oktober 1952 di Chicago."
    assert copy_span("27 Oktober 1952", sentence) == "27 Oktober 1952"
    examples = Prompts().template("read_system")
    # no example may teach cutting a date to its year
    assert "12 Maret 1920" in examples
    for line in examples.splitlines():
        if line.startswith("Reply:"):
            assert not line.strip().endswith(("| 1920", "| Tahun 1920"))


def test_copy_span_finds_the_words_a_model_wrote_in_digits_or_another_case() -> None:
    sentence = "Dalam seminar itu, lebih dari 60 delegasi dari lima benua terdaftar untuk berbicara."
    assert copy_span("5", sentence) == "lima benua"
    assert copy_span("LEBIH DARI 60 DELEGASI", sentence) == "lebih dari 60 delegasi"
    assert copy_span("Paris", sentence) is None


def test_follow_up_is_read_with_the_earlier_question_without_a_model_call(retriever: Retriever) -> None:
    model = ChoosingChatModel(replies=["1 | 68 pasal"], choices={"1": 0.9})
    assistant = Assistant(retriever, model)
    history: list[Any] = [
        {"role": "user", "content": "Berapa negara yang menandatangani Konvensi Hanoi?"},
        {"role": "assistant", "content": "69 negara [1]"},
    ]
    request = assistant.request("Berapa pasal yang dimilikinya?", history)
    focus = Condense().run(request)
    assert "Konvensi Hanoi" in focus.query.text and focus.context.startswith("Berapa negara")
    answer = assistant.answer(request)
    assert len(model.prompts) == 1, "one model call: the reading; the follow-up was resolved by rule"
    assert "Earlier question: Berapa negara" in str(model.prompts[0][-1].content)
    assert answer.check and any("68 pasal" in s for s in answer.check["shown"]), "the follow-up's sentence was read"


def test_the_extractive_backend_answers_with_its_best_sentence(retriever: Retriever) -> None:
    answer = Assistant(retriever, config=AnswerConfig(strictness="off")).ask(
        "Berapa negara yang menandatangani Konvensi Hanoi?"
    )
    assert not answer.abstained and "69 negara menandatangani" in answer.text


def test_the_pipeline_is_a_langchain_runnable(retriever: Retriever) -> None:
    model = ChoosingChatModel(replies=["1 | 69 negara"], choices={"1": 0.95})
    assistant = Assistant(retriever, model)
    chain = assistant.runnable()
    answers = chain.batch([assistant.request("Berapa negara yang menandatangani Konvensi Hanoi?")])
    assert answers[0].text.startswith("69 negara")


def test_reader_prompt_stays_short(retriever: Retriever) -> None:
    model = ChoosingChatModel(replies=["1 | 69 negara"], choices={"1": 0.95})
    Assistant(retriever, model).ask("Berapa negara yang menandatangani Konvensi Hanoi?")
    fresh = str(model.prompts[0][-1].content)  # the system prompt is the same for every question (cached)
    assert len(fresh) / 3.5 <= 300, f"about {len(fresh) / 3.5:.0f} fresh prompt tokens"


def test_stages_are_announced_before_the_held_answer(retriever: Retriever) -> None:
    model = ChoosingChatModel(replies=["1 | 69 negara"], choices={"1": 0.95})
    assistant = Assistant(retriever, model)
    events = list(assistant.stream(assistant.request("Berapa negara yang menandatangani Konvensi Hanoi?")))
    assert [e.name for e in events if isinstance(e, Stage)] == ["retrieve", "rank", "read"]
    updates = list(follow(iter(events)))
    assert updates[0].stage == "retrieve" and updates[0].text == "" and updates[-1].answer is not None


def test_the_right_words_under_the_wrong_number_cite_the_sentence_that_holds_them() -> None:
    model = ChoosingChatModel(replies=["1 | 19 pidato"], choices={"1": 0.6, "2": 0.3})
    shown = [
        _ranked("Sebanyak 69 negara menandatangani Konvensi Hanoi."),
        _ranked("Konferensi itu mendengarkan 19 pidato."),
    ]
    reading = Reader(model, Prompts()).run(Query.read("Berapa pidato yang didengarkan?", "id"), shown, "id")
    assert reading.choice == 2 and reading.answer == "19 pidato" and reading.problem == "renumbered"


def test_the_follow_up_set_is_two_turn_chains_in_three_languages() -> None:
    from convention_qa.evaluation.datasets import load_question_set

    _, questions = load_question_set(Path(__file__).parents[1] / "eval" / "followups.yaml")
    assert len(questions) >= 20 and all(len(q.turns) == 1 for q in questions)
    assert {q.lang for q in questions} == {"id", "en", "vi"}
    assert all(looks_like_follow_up(Query.read(q.question)) for q in questions), "each second turn leans on the first"


def test_translate_stage_uses_a_translation_only_when_it_is_one(retriever: Retriever) -> None:
    question = "How many countries signed the Hanoi Convention?"
    config = AnswerConfig(translate=True)
    preamble = ChoosingChatModel(replies=["Berikut adalah jawaban dalam bahasa Indonesia:", "0"], choices={"0": 0.9})
    answer = Assistant(retriever, preamble, config=config).ask(question)
    assert answer.translation is None, "a preamble is never read as the question"
    translated = "Berapa negara yang menandatangani Konvensi Hanoi?"
    model = ChoosingChatModel(replies=[translated, "0"], choices={"0": 0.9})
    answer = Assistant(retriever, model, config=config).ask(question)
    assert answer.translation == translated and "translate" in answer.timings
    assert f"Question: {translated}" in str(model.prompts[-1][-1].content)
    off = ChoosingChatModel(replies=["0"], choices={"0": 0.9})
    assert Assistant(retriever, off).ask(question).translation is None and len(off.prompts) == 1, "off by default"


def test_words_that_only_repeat_the_question_are_no_answer() -> None:
    model = ChoosingChatModel(replies=["1 | SEA Games XXII"], choices={"1": 0.9})
    reading = Reader(model, Prompts()).run(
        Query.read("Berlangsung dimanakah SEA Games XXII?", "id"),
        [_ranked("SEA Games XXII berlangsung di Vietnam pada tahun 2003.")],
        "id",
    )
    assert reading.problem == "echo" and reading.answer == ""


def test_copy_span_never_drops_the_number_the_model_wrote() -> None:
    sentence = "Kemarin pagi, 25 Oktober, 69 negara menandatangani Konvensi Hanoi di Hanoi."
    assert copy_span("25 October", sentence) == "25 Oktober"  # the month in the language asked
    assert copy_span("26 Oktober", sentence) == "25 Oktober"  # a digit misread: the sentence's own date
    assert copy_span("12 Februari 2010", "Episode itu ditayangkan tanggal 21 September 2010.") == "21 September 2010"
    assert copy_span("1,5 juta orang", "Sekitar satu setengah juta orang hadir.") is None  # not "juta orang"


def test_copy_span_reads_numbers_in_either_separator_convention() -> None:
    assert copy_span("17,786,419", "Populasi wilayah itu 17.786.419 jiwa pada 2010.") == "17.786.419"
    assert copy_span("3.62", "Rata-rata ukuran keluarga adalah 3,62.") == "3,62"


def test_without_a_model_a_sentence_sharing_too_little_with_the_question_is_no_answer() -> None:
    weak = RankedSentence(
        _passage("Festival itu dihadiri 5000 pengunjung."), 0, (0, 36), "Festival itu.", 1.0, 0.7, 0.1, 0.0
    )
    reading = Reader(None, Prompts()).run(Query.read("Siapa juara piala dunia 2022?", "id"), [weak], "id")
    assert reading.choice is None, "an off-topic best sentence is not an answer, whatever the strictness"
    strong = RankedSentence(
        _passage("Juara piala dunia 2022 adalah Argentina."), 0, (0, 40), "Juara.", 1.0, 0.9, 0.8, 0.0
    )
    assert Reader(None, Prompts()).run(Query.read("Siapa juara piala dunia 2022?", "id"), [strong], "id").choice == 1
