from __future__ import annotations

from pathlib import Path

import pytest

from convention_qa.config import get_settings
from convention_qa.errors import ConfigError


def test_defaults() -> None:
    settings = get_settings()
    assert settings.data_dir == Path("data")
    assert settings.corpus_dir == Path("corpus")
    assert settings.embedder == "multilingual-e5-small"
    assert settings.chroma_host is None


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVENTION_QA_DATA_DIR", "/srv/qa")
    monkeypatch.setenv("CONVENTION_QA_CHUNK_SIZE", "600")
    settings = get_settings()
    assert settings.data_dir == Path("/srv/qa") and settings.chunk_size == 600


def test_config_file_in_working_directory_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "convention-qa.toml").write_text('corpus_dir = "news"\nchunk_size = 800\n', encoding="utf-8")
    assert get_settings().corpus_dir == Path("news")
    monkeypatch.setenv("CONVENTION_QA_CHUNK_SIZE", "700")
    assert get_settings().chunk_size == 700


def test_config_file_from_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('chroma_host = "127.0.0.1"\nchroma_port = 8123\n', encoding="utf-8")
    monkeypatch.setenv("CONVENTION_QA_CONFIG", str(path))
    settings = get_settings()
    assert (settings.chroma_host, settings.chroma_port) == ("127.0.0.1", 8123)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CONVENTION_QA_CHUNK_SIZE": "ten"}, "chunk_size"),
        (
            {"CONVENTION_QA_CHUNK_SIZE": "300", "CONVENTION_QA_CHUNK_OVERLAP": "300"},
            "chunk_overlap",
        ),
        ({"CONVENTION_QA_CHROMA_PORT": "99999"}, "chroma_port"),
        ({"CONVENTION_QA_CONFIG": "/no/such/file.toml"}, "not a file"),
    ],
)
def test_bad_settings_are_one_clear_error(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        get_settings()


def test_malformed_config_file(tmp_path: Path) -> None:
    (tmp_path / "convention-qa.toml").write_text("chunk_size = = 3", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read settings"):
        get_settings()


def test_unknown_key_in_config_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "convention-qa.toml").write_text("chunk_sise = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="chunk_sise"):
        get_settings()
