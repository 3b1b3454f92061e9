from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from convention_qa.cli import Wiring, main
from convention_qa.config import Settings

from .fakes import HashingEmbeddings, ScriptedChatModel, UnreachableChatModel


def invoke(args: list[str], settings: Settings, model: Any = None, stdin: str | None = None) -> Any:
    embedder = HashingEmbeddings()
    wiring = Wiring(
        settings=settings.model_copy(update={"policy": "off", "strictness": "off"}),  # the CLI, not the checks
        make_embedder=lambda name: embedder,
        make_chat_model=lambda s: model,
    )
    return CliRunner().invoke(main, args, obj=wiring, input=stdin, catch_exceptions=False)


def test_ask_before_ingest_says_what_to_do(settings: Settings) -> None:
    result = invoke(["ask", "Berapa negara?"], settings)
    assert result.exit_code == 2
    assert "no index yet" in result.stderr and "convention-qa ingest" in result.stderr
    assert "Traceback" not in result.output


def test_ask_json_has_the_documented_shape(settings: Settings) -> None:
    invoke(["ingest"], settings)
    model = ScriptedChatModel(replies=["Sebanyak 69 negara menandatangani Konvensi Hanoi [1]."])
    result = invoke(["ask", "--json", "Berapa negara yang menandatangani Konvensi Hanoi?"], settings, model)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # the answer is the words of the sentence the reply copies, cited
    assert data["answer"].startswith("69 negara menandatangani Konvensi Hanoi [")
    assert data["abstained"] is False
    assert {"n", "doc_id", "title", "source", "text", "start", "end"} <= data["citations"][0].keys()
    assert {"condense", "retrieve", "rank", "read"} <= data["timings"].keys()


def test_ask_prints_the_answer_then_numbered_sources(settings: Settings) -> None:
    invoke(["ingest"], settings)
    model = ScriptedChatModel(replies=["Sebanyak 69 negara menandatangani Konvensi Hanoi [1]."])
    result = invoke(["ask", "Berapa negara yang menandatangani Konvensi Hanoi?"], settings, model)
    assert result.stdout.index("69 negara") < result.stdout.index("Sources") < result.stdout.index("] Sesi diskusi")


def test_ask_rejects_empty_and_too_long_questions(settings: Settings) -> None:
    invoke(["ingest"], settings)
    for question, message in (("  ", "empty"), ("x" * 3000, "limit is 2000")):
        result = invoke(["ask", question], settings)
        assert result.exit_code == 2 and message in result.stderr


def test_unreachable_model_is_one_clear_line(settings: Settings) -> None:
    invoke(["ingest"], settings)
    result = invoke(["ask", "Berapa negara yang menandatangani?"], settings, UnreachableChatModel())
    assert result.exit_code == 2
    assert "the answer model failed" in result.stderr and "Traceback" not in result.output


def test_chat_keeps_history_for_follow_ups(settings: Settings) -> None:
    invoke(["ingest"], settings)
    model = ScriptedChatModel(
        replies=[
            "Konvensi Hanoi ditandatangani 69 negara [1].",
            "68 pasal",
        ]
    )
    stdin = "Berapa negara yang menandatangani Konvensi Hanoi?\nBerapa pasalnya?\n/quit\n"
    result = invoke(["chat"], settings, model, stdin=stdin)
    assert result.exit_code == 0, result.output
    assert "69 negara" in result.stdout and "68 pasal" in result.stdout
    # the follow-up is read with the question it follows (by rule: no model call to rewrite it)
    assert len(model.prompts) == 2
    follow_up_prompt = str(model.prompts[1][-1].content)
    assert "Earlier question: Berapa negara yang menandatangani Konvensi Hanoi?" in follow_up_prompt
