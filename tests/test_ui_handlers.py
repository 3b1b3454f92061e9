"""The chat's handlers called as Gradio calls them, without a browser."""

from __future__ import annotations

from typing import Any

from convention_qa.ui import Services, build_ui


class _Config:
    k, max_question_chars = 5, 2000


class _NoAssistant:
    """Stands in for the Assistant where the handler must not reach it."""

    config = _Config()

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a stopping server starts no new answer")


def handler(demo: Any, api_name: str) -> Any:
    fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
    return next(f.fn for f in fns if f.api_name == api_name)


def test_a_question_asked_while_the_server_stops_is_told_to_come_back() -> None:
    demo = build_ui(_NoAssistant(), lambda files: None, max_upload_mb=1, services=Services(stopping=lambda: True))  # type: ignore[arg-type, return-value]
    history, _, kept = handler(demo, "ask")("Berapa negara?", [], 5, "auto")
    assert "restarting" in history[-1]["content"] and kept == "Berapa negara?", "the question stays typed in"
