"""Settings: LIVECLASS_ variables, .env, embedded defaults and the secret key."""

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import Settings
from core.settings import ConfigurationError, resolve_secret_key


def test_embedded_defaults_use_sqlite_under_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing configured, the database is a SQLite file under the data folder."""
    monkeypatch.setenv("LIVECLASS_DATA_DIR", str(tmp_path / "data"))
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.uses_sqlite
    assert s.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'liveclass.db'}"
    assert s.redis_url is None


def test_env_file_and_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values come from LIVECLASS_ variables and from a .env file."""
    env = tmp_path / ".env"
    env.write_text("LIVECLASS_PUBLIC_URL=https://tutor.example.org/\nLIVECLASS_LOG_FORMAT=json\n")
    monkeypatch.setenv("LIVECLASS_ACCESS_TOKEN_TTL_SECONDS", "600")
    s = Settings(_env_file=env)  # type: ignore[call-arg]
    assert s.public_url == "https://tutor.example.org"
    assert s.log_format == "json"
    assert s.access_token_ttl_seconds == 600


def test_postgres_urls_get_the_async_driver() -> None:
    """A plain postgresql:// URL, as people paste it, is used through asyncpg."""
    s = Settings(_env_file=None, database_url="postgresql://u@127.0.0.1/db")  # type: ignore[call-arg]
    assert s.resolved_database_url == "postgresql+asyncpg://u@127.0.0.1/db"
    assert not s.uses_sqlite


def test_unsupported_database_url_says_what_is_accepted() -> None:
    """A MySQL URL is refused with a message naming the accepted kinds."""
    with pytest.raises(ValidationError, match="postgresql:// or sqlite://"):
        Settings(_env_file=None, database_url="mysql://x@y/z")  # type: ignore[call-arg]


def test_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    """The embedded secret is created once, readable only by its owner, and reused."""
    s = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    first = resolve_secret_key(s)
    assert len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600
    assert resolve_secret_key(s) == first


def test_shared_database_needs_a_configured_secret(tmp_path: Path) -> None:
    """With PostgreSQL, nodes must share a key, so a missing one is an error with the fix."""
    s = Settings(_env_file=None, data_dir=tmp_path, database_url="postgresql://x@127.0.0.1/db")  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="LIVECLASS_SECRET_KEY"):
        resolve_secret_key(s)


def test_short_secret_is_refused(tmp_path: Path) -> None:
    """A guessable key is refused rather than used."""
    s = Settings(_env_file=None, data_dir=tmp_path, secret_key="short")  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="at least 32"):
        resolve_secret_key(s)


def test_ice_port_range_reads_low_high(monkeypatch: pytest.MonkeyPatch) -> None:
    """LIVECLASS_ICE_PORT_RANGE is LOW-HIGH, both included; empty or unset means any port."""
    monkeypatch.setenv("LIVECLASS_ICE_PORT_RANGE", "50000-50100")
    assert Settings(_env_file=None).ice_port_range == (50000, 50100)  # type: ignore[call-arg]
    monkeypatch.setenv("LIVECLASS_ICE_PORT_RANGE", " 50000 - 50000 ")
    assert Settings(_env_file=None).ice_port_range == (50000, 50000)  # type: ignore[call-arg]
    monkeypatch.setenv("LIVECLASS_ICE_PORT_RANGE", "")
    assert Settings(_env_file=None).ice_port_range is None  # type: ignore[call-arg]
    monkeypatch.delenv("LIVECLASS_ICE_PORT_RANGE")
    assert Settings(_env_file=None).ice_port_range is None  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("50000", "is not LOW-HIGH"),
        ("50000-", "is not LOW-HIGH"),
        ("50000:50100", "is not LOW-HIGH"),
        ("fifty-sixty", "is not LOW-HIGH"),
        ("50000-50100-50200", "is not LOW-HIGH"),
        ("50100-50000", "runs backwards"),
        ("80-9000", "1024-65535"),
        ("60000-70000", "1024-65535"),
    ],
)
def test_bad_ice_port_range_says_what_is_expected(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    """A malformed, reversed or out-of-bounds range is refused with the reason."""
    monkeypatch.setenv("LIVECLASS_ICE_PORT_RANGE", value)
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_llm_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The drafting model's settings come from LIVECLASS_ variables; empty means unset."""
    monkeypatch.setenv("LIVECLASS_OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("LIVECLASS_OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("LIVECLASS_LLM_MODEL", "smollm2")
    monkeypatch.setenv("LIVECLASS_LLM_STRUCTURED_OUTPUT", "json_object_schema")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.openai_base_url == "http://127.0.0.1:8080/v1"
    assert s.openai_api_key is not None and s.openai_api_key.get_secret_value() == "sk-test"
    assert "sk-test" not in repr(s)
    assert s.llm_structured_output == "json_object_schema"
    monkeypatch.setenv("LIVECLASS_LLM_MODEL", " ")
    assert Settings(_env_file=None).llm_model is None  # type: ignore[call-arg]
    monkeypatch.setenv("LIVECLASS_LLM_STRUCTURED_OUTPUT", "xml")
    with pytest.raises(ValidationError, match="json_schema"):
        Settings(_env_file=None)  # type: ignore[call-arg]
