"""Settings, read once at each entry point and passed down.

Values come, highest priority first, from: keyword arguments, environment variables prefixed
``CONVENTION_QA_``, a TOML config file, then the defaults below. The config file is the path in
``CONVENTION_QA_CONFIG``, else ``convention-qa.toml`` in the working directory if it exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from convention_qa.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_FILE_MB",
    "MAX_FEEDBACK_CHARS",
    "MAX_HISTORY_MESSAGES",
    "MAX_K",
    "MAX_MESSAGE_CHARS",
    "MAX_SEARCH_CHARS",
    "AnswerConfig",
    "Settings",
    "config_file",
    "get_settings",
]

DEFAULT_CONFIG_FILE = "convention-qa.toml"

# Limits every surface (CLI, HTTP API, OpenAI-compatible route, web UI) applies; the settings'
# own bounds come from here too.
MAX_K = 20  # passages one question may retrieve
MAX_HISTORY_MESSAGES = 50  # earlier messages a request may carry (only the last HISTORY_MESSAGES are used)
MAX_MESSAGE_CHARS = 100_000  # of one message a client sends; longer questions are refused by max_question_chars
MAX_FEEDBACK_CHARS = 2000  # of a rating's comment or correction
MAX_SEARCH_CHARS = 2000  # of a /api/search query
DEFAULT_MAX_FILE_MB = 20.0  # an article file larger than this is refused (CONVENTION_QA_MAX_FILE_MB)
DEFAULT_MAX_FILE_BYTES = int(DEFAULT_MAX_FILE_MB * 1_000_000)


def config_file() -> Path | None:
    """The config file in force, or None when there is none."""
    explicit = os.environ.get("CONVENTION_QA_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"CONVENTION_QA_CONFIG points to {path}, which is not a file: fix the path or unset the variable"
            )
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


class Settings(BaseSettings):
    """Every knob of the application. See the README's "Settings" table."""

    model_config = SettingsConfigDict(env_prefix="CONVENTION_QA_", extra="forbid")

    data_dir: Path = Field(Path("data"), description="Where the index and model files live.")
    corpus_dir: Path = Field(Path("corpus"), description="Articles to ingest.")
    embedder: str = Field(
        "multilingual-e5-small",
        description="multilingual-e5-small (bundled), all-MiniLM-L6-v2 (bundled), "
        "or any sentence-transformers model name or path; with EMBEDDER_URL, the model's name on that server.",
    )
    embedder_url: str | None = Field(
        None,
        description="An OpenAI-compatible embeddings server (its /v1 URL, e.g. http://gpu-box:8080/v1): "
        "chunks and questions are embedded there, not in-process.",
    )
    embedder_api_key: str | None = Field(None, repr=False, description="API key for EMBEDDER_URL, if it needs one.")
    embedder_prefixes: Literal["auto", "e5", "none"] = Field(
        "auto", description="e5's query:/passage: prefixes with EMBEDDER_URL: auto (when the model name says e5)."
    )
    embedder_batch: int = Field(32, ge=1, le=2048, description="Texts per request to EMBEDDER_URL.")
    embedder_concurrency: int = Field(4, ge=1, le=64, description="Requests in flight to EMBEDDER_URL.")
    collection: str = Field("articles", description="Base name of the Chroma collection.")
    chroma_host: str | None = Field(None, description="Chroma server host; unset = embedded.")
    chroma_port: int = Field(8000, ge=1, le=65535)
    chroma_ssl: bool = False
    chunk_size: int = Field(1000, ge=100, le=20000, description="Chunk size in characters.")
    chunk_overlap: int = Field(150, ge=0, description="Overlap in characters (whole sentences).")
    max_file_mb: float = Field(DEFAULT_MAX_FILE_MB, gt=0, description="Files larger than this are refused.")
    embed_batch_size: int = Field(32, ge=1, le=4096)

    # answering
    llm: Literal["local", "openai", "ollama", "extractive"] = Field("local", description="Which model writes answers.")
    llm_base_url: str | None = Field(None, description="Server URL for the openai/ollama backends.")
    llm_model: str | None = Field(None, description="Model name on that server.")
    llm_api_key: str | None = Field(None, description="API key for the openai backend, if any.")
    llm_timeout: float = Field(120.0, gt=0)
    llm_cache: Path | None = Field(
        None,
        description="A SQLite file keeping model replies by prompt, so repeated evaluation runs do not "
        "wait for the model again (temperature 0 replies repeat); unset (the default) keeps nothing.",
    )
    max_answer_tokens: int = Field(200, ge=16, le=4096)
    top_k: int = Field(
        5, ge=1, le=MAX_K, description="Passages retrieved per question (and by `eval`, unless given -k)."
    )
    evidence_tokens: int = Field(
        220, ge=50, le=4000, description="Token budget for the evidence sentences in the prompt."
    )
    policy: str = Field(
        "default",
        description="When to answer: default (the fitted policy shipped in the package), off (always answer; "
        "for measuring) or the path of a policy JSON file written by benchmarks/calibrate.py.",
    )
    strictness: str = Field(
        "balanced",
        description="When a written answer is given: strict, balanced or helpful (measured operating points of "
        "the answer check), a number between 0 and 1 (the minimum probability that the answer is right), "
        "or off (give every answer; for measuring).",
    )
    operating_points: Path | None = Field(
        None,
        description="The focused reader's confidence model and operating points (strictness -> minimum "
        "confidence), a JSON file written by `convention-qa calibrate`; default: those shipped for the bundled model "
        "(and, without a model, for the extractive backend).",
    )
    reader: Literal["focused", "free"] = Field(
        "focused",
        description="focused: the model chooses among the best-ranked sentences and copies the answer; "
        "free: the model writes the answer from evidence passages (the earlier reader).",
    )
    translate: bool = Field(
        False,
        description="Put a question asked in another language than the passages into theirs (one model call) "
        "before its sentences are ranked and read; off by default (see README, Answer quality).",
    )
    history_messages: int = Field(
        6,
        ge=0,
        le=50,
        # HISTORY_TURNS: its name until it was found to count messages, not turns; still read.
        validation_alias=AliasChoices(
            "history_messages", "CONVENTION_QA_HISTORY_MESSAGES", "history_turns", "CONVENTION_QA_HISTORY_TURNS"
        ),
        description="Past messages (questions and answers) used for follow-ups.",
    )
    max_question_chars: int = Field(2000, ge=10, le=100_000)
    prompts_dir: Path | None = Field(None, description="Prompt templates; default: prompts/.")
    host: str = Field("127.0.0.1", description="Address the web app listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port of the web app.")
    api_key: str | None = Field(
        None,
        repr=False,
        description="The admin key: sees every owner's conversations. When set, API and UI require a key "
        "(this one or a user's, `convention-qa keys create NAME`) or the trusted proxy's user header.",
    )
    trust_proxy: bool = Field(
        False,
        description="An authenticating reverse proxy sits in front: its user header (USER_HEADER) names the owner.",
    )
    user_header: str = Field(
        "X-Forwarded-User",
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="The header that names the user, honoured only with TRUST_PROXY=true.",
    )
    secret_key: str | None = Field(
        None,
        min_length=16,
        repr=False,
        description="Signs the anonymous owner's browser cookie; default: a random key kept in DATA_DIR/owner-secret "
        "(set it when replicas do not share a data directory).",
    )
    max_sessions: int = Field(1000, ge=1, le=1_000_000, description="Chat sessions the API keeps.")
    session_idle_minutes: float = Field(60, gt=0, description="Idle chat sessions expire after this.")
    models_dir: Path | None = Field(None, description="Assembled model files; default DATA_DIR/models.")
    conversations: bool = Field(
        True, description="Keep conversations, answers and feedback in a database; false keeps no history."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the conversation database, e.g. postgresql+psycopg://user:pw@host/db; "
        "default: SQLite at DATA_DIR/conversations.db.",
    )
    retention_days: float | None = Field(
        None, gt=0, description="Conversations untouched for this many days are deleted; unset keeps them."
    )
    anonymous_cookie_days: float = Field(
        30,
        gt=0,
        le=400,
        description="An anonymous browser's owner cookie is good for this many days after it was last issued "
        "(it is issued again while in use); a copied cookie dies this long after its browser stops using it.",
    )
    anonymous_retention_days: float = Field(
        30,
        ge=0,
        description="Anonymous conversations (no key, no proxy user) untouched for this many days are deleted: "
        "once their cookie is gone nobody can reach them. 0 keeps them (RETENTION_DAYS still applies).",
    )
    reports_dir: Path = Field(
        Path("reports"), description="Where the web UI's Evaluation tab looks for `convention-qa eval --out` folders."
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        if self.strictness not in ("strict", "balanced", "helpful", "off"):
            try:
                value = float(self.strictness)
            except ValueError:
                raise ValueError(
                    "strictness must be strict, balanced, helpful, off or a number between 0 and 1"
                ) from None
            if not 0.0 <= value <= 1.0:
                raise ValueError("strictness must be between 0 and 1")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def model_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)

    @property
    def answering(self) -> AnswerConfig:
        """The section of these settings the assistant is built from."""
        named = {"k": "top_k"}  # an AnswerConfig field -> the setting it comes from, where the names differ
        chosen = [f.name for f in fields(AnswerConfig) if f.name != "max_k"]
        return AnswerConfig(**{name: getattr(self, named.get(name, name)) for name in chosen})


def _default(name: str) -> int:
    value = Settings.model_fields[name].default
    assert isinstance(value, int)
    return value


@dataclass(frozen=True)
class AnswerConfig:
    """How the assistant answers; its defaults are the settings' defaults."""

    k: int = _default("top_k")
    evidence_tokens: int = _default("evidence_tokens")
    history_messages: int = _default("history_messages")
    max_question_chars: int = _default("max_question_chars")
    max_k: int = MAX_K
    strictness: str = "balanced"
    translate: bool = False
    reader: str = "focused"


def get_settings(**overrides: object) -> Settings:
    """Build the settings, turning validation errors into one readable ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings ({problems}). Check CONVENTION_QA_* variables and the config file."
        ) from None
    except ValueError as exc:  # e.g. malformed TOML
        raise ConfigError(f"cannot read settings: {exc}") from None
