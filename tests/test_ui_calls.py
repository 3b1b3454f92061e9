"""Every handler the chat UI registers, called the ways a client can: by name on the API's routes
(only the public ones answer), and as the page does through the queue (arguments checked). The
list of handlers is read from the running app, so a handler added later is tested too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from convention_qa.web.ui_calls import PUBLIC

from .gradio_calls import join, ui_call

pytestmark = pytest.mark.integration

NAMED_ROUTES = ("/gradio_api/run/{}", "/gradio_api/api/{}", "/gradio_api/call/{}", "/gradio_api/call/v2/{}")
# Values of every JSON kind, and the odd ones: a lone surrogate, NaN, NUL, a huge number.
JUNK: list[Any] = [None, 5, -1, 1e308, "x", "\ud800", "a\u0000b", [1, 2], {"a": 1}, [{"role": 5}], True, "NaN"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from .test_api import module_server

    with module_server(tmp_path_factory, "ui-calls") as (url, _):
        yield url


def dependencies(url: str) -> list[dict[str, Any]]:
    deps = httpx.get(f"{url}/config").json()["dependencies"]
    assert len(deps) >= 10, "the UI's handlers are all listed"
    return list(deps)


def test_only_the_public_api_is_reachable_by_name(app: str) -> None:
    deps = dependencies(app)
    public = {d["api_name"] for d in deps if d.get("api_visibility") == "public"}
    assert public == set(PUBLIC) == {"ask", "add_files"}
    for dep in deps:
        name = dep["api_name"]
        for route in NAMED_ROUTES:
            reply = httpx.post(app + route.format(name), json={"data": []}, timeout=60)
            if name in public:
                assert reply.status_code == 422, (route, name, reply.text)
            else:
                assert reply.status_code == 404, (route, name, reply.text)
                assert "/ask" in reply.json()["detail"], "the 404 says what the API has"
        # A public name cannot carry a private handler's fn_index in its body.
        if name not in public:
            smuggled = httpx.post(f"{app}/gradio_api/run/ask", json={"data": [], "fn_index": dep["id"]}, timeout=60)
            assert smuggled.status_code == 404, (name, smuggled.text)


def test_the_reported_calls_are_no_longer_500s(app: str) -> None:
    for name, data in [
        ("restore", '["\\ud800"]'),
        ("restore", "[[1,2]]"),
        ("export_as_json", "[5,null]"),
        ("delete", '[{"a":1},null]'),
        ("respond", '["q", [], "x", "auto", null, []]'),
        ("respond", '["q", 5, 5, "auto", null, []]'),
        ("export_markdown", '[null,"zzz"]'),
    ]:
        reply = httpx.post(f"{app}/gradio_api/run/{name}", content=f'{{"data": {data}}}', timeout=60)
        assert reply.status_code == 404, (name, data, reply.text)


def test_every_handler_checks_its_arguments_as_the_page_calls_it(app: str) -> None:
    deps = dependencies(app)
    with httpx.Client(base_url=app, timeout=60) as page:
        page.get("/")
        for dep in deps:
            arity = len(dep["inputs"])
            wrong_count = join(page, dep["id"], [None] * (arity + 1))
            assert wrong_count.status_code == 422, (dep["api_name"], wrong_count.text)
            assert "takes" in wrong_count.json()["detail"]
            for position in range(arity):
                for junk in JUNK:
                    data: list[Any] = [None] * arity
                    data[position] = junk
                    body = json.dumps({"data": data, "fn_index": dep["id"], "session_hash": "probe"})
                    reply = page.post("/gradio_api/queue/join", content=body)
                    assert reply.status_code in {200, 422}, (dep["api_name"], position, junk, reply.text)
                    if reply.status_code == 422:
                        assert "Traceback" not in reply.text and "sqlalchemy" not in reply.text.lower()
        assert join(page, 10_000, []).status_code == 404
        not_a_list = page.post("/gradio_api/queue/join", json={"data": {"a": 1}, "fn_index": deps[0]["id"]})
        assert not_a_list.status_code == 422
        assert page.post("/gradio_api/queue/join", content=b"{not json").status_code == 422


def test_a_checked_call_still_runs_and_a_bad_one_in_the_queue_never_reaches_the_handler(app: str) -> None:
    with httpx.Client(base_url=app, timeout=60) as page:
        page.get("/")
        done = ui_call(page, "cleared", [])
        assert done["success"], done
        bad = join(page, _index(app, "restore"), [[1, 2]])
        assert bad.status_code == 422 and "conversation" in bad.json()["detail"]
        like = join(page, _index(app, "rate"), [None], event_data=None)
        assert like.status_code == 422 and "event_data" in like.json()["detail"]


def _index(url: str, name: str) -> int:
    return next(int(d["id"]) for d in dependencies(url) if d["api_name"] == name)


def test_the_check_covers_a_handler_wired_later() -> None:
    """``endpoints`` is built from the Blocks: a handler with an input it has no check for stops
    the app from starting, instead of being reachable unchecked."""
    import gradio as gr

    from convention_qa.web.ui_calls import endpoints

    with gr.Blocks() as demo:
        picture = gr.Image()
        out = gr.Textbox()
        picture.change(lambda image: "seen", picture, out, api_visibility="private")
    with pytest.raises(TypeError, match="no argument check for a Image"):
        endpoints(demo)
    with gr.Blocks() as demo:
        box = gr.Textbox()
        box.submit(lambda text: text, box, box, api_name="echo")  # public, but not in PUBLIC
    with pytest.raises(TypeError, match="/echo has no argument check"):
        endpoints(demo)
