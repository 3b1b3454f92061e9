"""An ownership and robustness probe of a real server, as an outsider would run it.

    python benchmarks/probe_owners.py [--database-url postgresql+psycopg://...] [--out probe.json]
                                      [--configs open,locked]

Starts ``convention-qa serve`` twice on 127.0.0.1 (extractive answers, the seed article), on a
fresh data directory (and, with ``--database-url``, a fresh database on that server):

- ``open``: no admin key, the proxy not trusted; anonymous browsers, user keys, a revoked key;
- ``locked``: ``API_KEY`` and ``TRUST_PROXY`` on; the admin, user keys, proxy users.

In each, every owner makes conversations (through the API and through the UI's handlers, the
way the page calls them), then every other identity (other browsers, other keys, revoked and
forged keys and cookies, the proxy header, Gradio session hashes reused, an expired cookie
replayed) tries to list, read, export, continue, rate and delete them, through every route and
every UI handler. Every route in /openapi.json and every registered UI handler is also called
with odd values (NUL, lone surrogates, wrong types, huge strings). It prints the number of
requests, the statuses, every 5xx and every leak (a response to someone else that carries an
owner's question), and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from _servers import free_port, running

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "corpus"
LIFETIME_DAYS = 0.0003  # the anonymous cookie's: about 26 s, so that a replay can outlive it


class Probe:
    """Counts every response, keeps every 5xx and every leak."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.secrets: dict[str, str] = {}  # a marker in an owner's question -> that owner

    def client(self, name: str, owner: str | None = None, **kwargs: Any) -> httpx.Client:
        """A client called ``name`` acting as ``owner`` (default: its name)."""
        owner = owner or name

        def seen(response: httpx.Response) -> None:
            response.read()
            self.statuses[response.status_code] += 1
            where = f"{name}: {response.request.method} {response.request.url.raw_path.decode(errors='replace')[:120]}"
            if response.status_code >= 500:
                self.failures.append(f"{response.status_code} {where}: {response.text[:200]}")
            for marker, whose in self.secrets.items():
                if whose != owner and marker in response.text:
                    self.failures.append(f"LEAK of {whose}'s question to {where}")

        return httpx.Client(base_url=self.url, timeout=120, event_hooks={"response": [seen]}, **kwargs)


def fn_indexes(client: httpx.Client) -> dict[str, int]:
    """The UI's handlers by name; none for a client the page is not served to (a 401 or 400)."""
    config = client.get("/config")
    deps = config.json().get("dependencies", []) if config.status_code == 200 else []
    return {d["api_name"]: int(d["id"]) for d in deps if d.get("api_name")}


def ui_call(client: httpx.Client, name: str, data: list[Any], session_hash: str) -> dict[str, Any] | None:
    """Run one UI handler as the page does; its completion message (None if the call was refused)."""
    index = fn_indexes(client).get(name)
    if index is None:
        return None
    body = {"data": data, "fn_index": index, "session_hash": session_hash, "event_data": None, "trigger_id": None}
    joined = client.post("/gradio_api/queue/join", json=body)
    if joined.status_code != 200:
        return None
    event = joined.json()["event_id"]
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed" and message.get("event_id") == event:
                    return dict(message)
    return None


@contextmanager
def server(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    env = {**env, "CONVENTION_QA_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    with (
        open(Path(env["CONVENTION_QA_DATA_DIR"]).parent / "server.log", "w") as log,
        running([sys.executable, "-m", "convention_qa", "serve"], f"{url}/health", what=f"the server (see {log.name})",
                seconds=300, env=env, stdout=log),
    ):  # fmt: skip
        yield url


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "convention_qa", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"convention-qa {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def own(probe: Probe, client: httpx.Client, name: str, session_hash: str) -> dict[str, str]:
    """``name`` makes a conversation through the API and one through the UI; their ids."""
    marker = f"zq{secrets.token_hex(4)}"
    probe.secrets[marker] = name
    question = f"Berapa negara yang menandatangani Konvensi Hanoi? {marker}"
    made: dict[str, str] = {"marker": marker}
    chat = client.post("/api/chat", json={"message": question})
    if chat.status_code == 200:
        made["api"], made["answer"] = chat.json()["session_id"], chat.json()["answer_id"] or ""
    asked = ui_call(client, "respond", [f"Kapan ditandatangani? {marker}", [], 5, "auto", None, []], session_hash)
    if asked and asked.get("success") and asked["output"]["data"][3]:
        made["ui"] = asked["output"]["data"][3]
    return made


def attack(probe: Probe, intruder: httpx.Client, victim: dict[str, str], session_hash: str) -> None:
    """Everything an intruder can try on another owner's conversations; none may succeed."""
    listed = intruder.get("/api/conversations", params={"limit": 1000})
    for kind in ("api", "ui"):
        conversation = victim.get(kind)
        if not conversation:
            continue
        if listed.status_code == 200 and conversation in listed.text:
            probe.failures.append(f"LEAK: {conversation} listed to an intruder")
        for path in (
            f"/api/conversations/{conversation}",
            f"/api/conversations/{conversation}/export?format=md",
            f"/api/conversations/{conversation}/export?format=json",
        ):
            if intruder.get(path).status_code == 200:
                probe.failures.append(f"LEAK: GET {path} answered an intruder")
        if intruder.post("/api/chat", json={"message": "Kapan?", "session_id": conversation}).status_code == 200:
            probe.failures.append(f"LEAK: an intruder continued {conversation}")
        for name, data in (
            ("restore", [conversation]),
            ("export_markdown", [conversation, None]),
            ("export_as_json", [conversation, None]),
            ("delete", [conversation, None]),
        ):
            for page_session in (session_hash, f"own-{secrets.token_hex(4)}"):  # the victim's, and its own
                done = ui_call(intruder, name, data, page_session)
                out = json.dumps(done or {})
                if done and done.get("success") and ("Conversation deleted" in out or "href=" in out):
                    probe.failures.append(f"LEAK: the UI's {name} acted on {conversation} for an intruder")
        if intruder.delete(f"/api/conversations/{conversation}").status_code == 204:
            probe.failures.append(f"LEAK: an intruder deleted {conversation}")
    if victim.get("answer"):
        rated = intruder.post("/api/feedback", json={"answer_id": victim["answer"], "rating": "down"})
        if rated.status_code == 200:
            probe.failures.append("LEAK: an intruder rated another owner's answer")


def eavesdrop(probe: Probe, victim: httpx.Client, intruder: httpx.Client, marker: str) -> None:
    """The victim's page asks in its Gradio session; the intruder, who read the session hash in a
    proxy log, listens on that session's stream before the victim does."""
    session_hash = f"live-{secrets.token_hex(4)}"
    index = fn_indexes(victim).get("respond")
    if index is None:
        return
    body = {"data": [f"Siapa memimpin sesi? {marker}", [], 5, "auto", None, []], "fn_index": index}
    if victim.post("/gradio_api/queue/join", json={**body, "session_hash": session_hash}).status_code != 200:
        return
    with intruder.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
        for _ in stream.iter_lines():
            pass  # the hook reads it whole and reports any of the victim's words in it


ODD_TEXT = ["\u0000", "a\u0000b", "\ud800", "x" * 200_000, "", " ", "🙂" * 50, "<script>alert(1)</script>"]
ODD_VALUES: list[Any] = [None, 5, -1, 1e308, True, [1, 2], {"a": 1}, *ODD_TEXT]
ODD_PATHS = ["a%00b", "%ED%A0%80", "x" * 3000, "..%2F..%2Fetc", "%FF"]


def odd_routes(probe: Probe, client: httpx.Client) -> None:
    """Every route /openapi.json lists, with odd path, query and body values: no 5xx."""
    schema = client.get("/openapi.json").json()
    for path, methods in schema["paths"].items():
        for method in methods:
            for odd in ODD_PATHS:
                target = path
                for part in [p for p in path.split("/") if p.startswith("{")]:
                    target = target.replace(part, odd)
                if method in {"get", "delete"}:
                    client.request(method.upper(), target, params={"q": odd, "k": "NaN", "format": odd, "limit": -1})
                else:
                    for body in ODD_VALUES[:8]:
                        fields = {"message": body, "question": body, "answer_id": body, "rating": body, "k": body}
                        client.request(method.upper(), target, json=fields)
                    client.request(method.upper(), target, content=b'{"message": "\\ud800", "k": NaN}')
                    client.request(method.upper(), target, content=b"\xff\xfe not json")
                    client.request(
                        method.upper(), target, content=b"--x\r\n\r\n", headers={"content-type": "multipart/form-data"}
                    )
                if "{" not in path:
                    break  # one pass is enough for a route without path parameters


def odd_ui(probe: Probe, client: httpx.Client) -> None:
    """Every registered UI handler by name and through the queue, with odd values: no 5xx."""
    deps = client.get("/config").json()["dependencies"]
    for dep in deps:
        for prefix in ("run", "call", "api"):
            client.post(f"/gradio_api/{prefix}/{dep['api_name']}", json={"data": [None] * len(dep["inputs"])})
        for position in range(len(dep["inputs"])):
            for odd in (None, [1, 2], {"a": 1}, "\ud800", "a\u0000b", 1e308):
                data: list[Any] = [None] * len(dep["inputs"])
                data[position] = odd
                body = {"data": data, "fn_index": dep["id"], "session_hash": "probe-odd"}
                client.post("/gradio_api/queue/join", content=json.dumps(body).encode())


def run(name: str, env: dict[str, str], locked: bool) -> Probe:
    keys = {who: cli(env, "keys", "create", who) for who in ("alice", "bob", "carol")}
    cli(env, "keys", "revoke", "carol")
    with server(env) as url:
        probe = Probe(url)
        owners: dict[str, httpx.Client] = {
            "alice": probe.client("alice", headers={"authorization": f"Bearer {keys['alice']}"}),
            "bob": probe.client("bob", headers={"authorization": f"Bearer {keys['bob']}"}),
        }
        if locked:
            owners["admin-less proxy user"] = probe.client("admin-less proxy user", headers={"x-forwarded-user": "pat"})
        else:
            owners["browser A"] = probe.client("browser A")
            owners["browser B"] = probe.client("browser B")
        signed_in = probe.client("alice (signed in)", owner="alice")
        signed_in.post("/sign-in", data={"key": keys["alice"]})
        for client in owners.values():
            client.get("/")
        first_cookie = owners["browser A"].cookies.get("convention_qa_owner") if not locked else None
        assets = {who: own(probe, client, who, f"hash-{who.replace(' ', '')}") for who, client in owners.items()}
        intruders: dict[str, httpx.Client] = {
            "revoked key": probe.client("revoked key", headers={"authorization": f"Bearer {keys['carol']}"}),
            "revoked key cookie": probe.client("revoked key cookie", cookies={"convention_qa_key": keys["carol"]}),
            "made-up key": probe.client("made-up key", headers={"authorization": "Bearer cqa_anything"}),
            "placeholder key": probe.client("placeholder key", headers={"authorization": "Bearer unused"}),
            "no cookies": probe.client("no cookies"),
            "forged cookie": probe.client(
                "forged cookie", cookies={"convention_qa_owner": (first_cookie or "x.y.z")[:-3] + "AAA"}
            ),
            "proxy header (untrusted)" if not locked else "other proxy user": probe.client(
                "proxy", headers={"x-forwarded-user": "mallory"}
            ),
            "header twice": probe.client(
                "header twice", headers=[("x-forwarded-user", "pat"), ("x-forwarded-user", "x")]
            ),
        }
        everyone = {**owners, **intruders, "alice (signed in)": signed_in}
        for victim, made in assets.items():
            for who, intruder in everyone.items():
                if who != victim and not (victim == "alice" and who == "alice (signed in)"):
                    attack(probe, intruder, made, f"hash-{victim.replace(' ', '')}")
        for victim, made in assets.items():
            for who in ("no cookies", "made-up key", "forged cookie"):
                eavesdrop(probe, owners[victim], intruders[who], made["marker"])
            eavesdrop(probe, owners[victim], next(c for w, c in owners.items() if w != victim), made["marker"])
        for client in [owners[next(iter(owners))], intruders["no cookies"], intruders["revoked key"]]:
            odd_routes(probe, client)
        odd_ui(probe, owners[next(iter(owners))])
        for who, made in assets.items():  # everything is still there for its owner
            for kind in ("api", "ui"):
                if made.get(kind) and owners[who].get(f"/api/conversations/{made[kind]}").status_code != 200:
                    probe.failures.append(f"{who}'s {kind} conversation is gone or unreadable")
        if first_cookie:
            time.sleep(LIFETIME_DAYS * 86400 + 1)
            replay = probe.client("expired cookie replayed", cookies={"convention_qa_owner": first_cookie})
            if replay.get(f"/api/conversations/{assets['browser A']['api']}").status_code == 200:
                probe.failures.append("an expired anonymous cookie still names its owner")
    return probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server (a fresh database is made on it per run)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--configs", default="open,locked", help="which servers to probe (default: both)")
    args = parser.parse_args()
    chosen = set(args.configs.split(","))
    if not chosen <= {"open", "locked"}:
        parser.error("--configs takes open, locked or both")
    results = {}
    for name, locked in (("open", False), ("locked", True)):
        if name not in chosen:
            continue
        work = Path(tempfile.mkdtemp(prefix=f"probe-{name}-"))
        shutil.copytree(SEED, work / "corpus")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVENTION_QA_")} | {
            "CONVENTION_QA_DATA_DIR": str(work / "data"),
            "CONVENTION_QA_CORPUS_DIR": str(work / "corpus"),
            "CONVENTION_QA_LLM": "extractive",
            "CONVENTION_QA_ANONYMOUS_COOKIE_DAYS": str(LIFETIME_DAYS),
        }
        if locked:
            env |= {"CONVENTION_QA_API_KEY": "probe-admin-key", "CONVENTION_QA_TRUST_PROXY": "true"}
        if args.database_url:
            env["CONVENTION_QA_DATABASE_URL"] = _fresh_database(args.database_url, f"probe_{name}_{os.getpid()}")
        probe = run(name, env, locked)
        total = sum(probe.statuses.values())
        print(f"{name}: {total} requests, statuses {dict(sorted(probe.statuses.items()))}")
        for failure in probe.failures:
            print(f"  FAIL {failure}")
        results[name] = {"requests": total, "statuses": dict(probe.statuses), "failures": probe.failures}
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    sys.exit(1 if any(r["failures"] for r in results.values()) else 0)


def _fresh_database(url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    return url.rsplit("/", 1)[0] + f"/{name}"


if __name__ == "__main__":
    main()
