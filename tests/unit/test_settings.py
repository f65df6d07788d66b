"""Settings: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import os

import pytest

from config.settings import load_settings
from config.values import parse_outcome_weights
from domain.errors import ConfigError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without variables the documented defaults apply."""
    monkeypatch.chdir("/")
    for name in list(os.environ):
        if name.startswith("BATCHDIAL_"):
            monkeypatch.delenv(name)
    settings = load_settings()
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.namespace == "batchdial"
    assert settings.dialer == "simulated"
    assert settings.metrics_port == 9191
    assert settings.max_call_seconds == 3600
    assert sum(settings.outcome_weights.values()) == 100
    assert settings.log_level == "INFO"
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8000)
    assert (settings.worker_processes, settings.worker_threads) == (1, 8)
    assert settings.demo_serve is False


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("BATCHDIAL_DIALER", "carrier-pigeon", "'twilio', 'telnyx' or 'livekit'"),
        ("BATCHDIAL_METRICS_PORT", "99999", "less than or equal to 65535"),
        ("BATCHDIAL_REDIS_URL", "postgres://x", "redis://"),
        ("BATCHDIAL_NAMESPACE", "a b", "letters, digits"),
        ("BATCHDIAL_SIMULATED_OUTCOMES", "completed=x", "not a number"),
        ("BATCHDIAL_SIMULATED_OUTCOMES", "exploded=5", "statuses among"),
        ("BATCHDIAL_SIMULATED_CALL_SECONDS", "-1", "greater than or equal to 0"),
        ("BATCHDIAL_MAX_CALL_SECONDS", "0", "greater than 0"),
        ("BATCHDIAL_DIALER_URL", "ftp://x", "http://"),
        ("BATCHDIAL_WORKER_THREADS", "abc", "valid integer"),
        ("BATCHDIAL_WORKER_THREADS", "0", "greater than or equal to 1"),
        ("BATCHDIAL_WORKER_PROCESSES", "two", "valid integer"),
        ("BATCHDIAL_WORKER_PROCESSES", "0", "greater than or equal to 1"),
        ("BATCHDIAL_API_PORT", "http", "valid integer"),
        ("BATCHDIAL_API_PORT", "70000", "less than or equal to 65535"),
        ("BATCHDIAL_API_HOST", "", "at least 1 character"),
        ("BATCHDIAL_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("BATCHDIAL_DEMO_SERVE", "maybe", "valid boolean"),
        ("BATCHDIAL_METRICS_HOST", "", "at least 1 character"),
        ("BATCHDIAL_KEEP_METRICS_DIR", "perhaps", "valid boolean"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    """An invalid value stops start-up with the variable's name and what it accepts."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert variable in str(info.value)
    assert fragment in str(info.value)


def test_command_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables behind the commands' options parse into typed settings."""
    monkeypatch.setenv("BATCHDIAL_API_HOST", "0.0.0.0")
    monkeypatch.setenv("BATCHDIAL_API_PORT", "8080")
    monkeypatch.setenv("BATCHDIAL_WORKER_PROCESSES", "3")
    monkeypatch.setenv("BATCHDIAL_WORKER_THREADS", "16")
    monkeypatch.setenv("BATCHDIAL_LOG_LEVEL", "warning")
    settings = load_settings()
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", 8080)
    assert (settings.worker_processes, settings.worker_threads) == (3, 16)
    assert settings.log_level == "WARNING"


def test_worker_metrics_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker supervisor's metrics address and keep-dir flag are settings too."""
    assert (load_settings().metrics_host, load_settings().keep_metrics_dir) == ("0.0.0.0", False)
    monkeypatch.setenv("BATCHDIAL_METRICS_HOST", "127.0.0.1")
    monkeypatch.setenv("BATCHDIAL_KEEP_METRICS_DIR", "yes")
    settings = load_settings()
    assert (settings.metrics_host, settings.keep_metrics_dir) == ("127.0.0.1", True)


@pytest.mark.parametrize(
    ("value", "serve"), [("1", True), ("true", True), ("0", False), ("no", False), ("", False)]
)
def test_demo_serve_is_a_boolean(monkeypatch: pytest.MonkeyPatch, value: str, serve: bool) -> None:
    """BATCHDIAL_DEMO_SERVE takes the usual boolean words; set but empty means off."""
    monkeypatch.setenv("BATCHDIAL_DEMO_SERVE", value)
    assert load_settings().demo_serve is serve


def test_http_dialer_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """BATCHDIAL_DIALER=http without BATCHDIAL_DIALER_URL is refused."""
    monkeypatch.setenv("BATCHDIAL_DIALER", "http")
    with pytest.raises(ConfigError, match="BATCHDIAL_DIALER_URL"):
        load_settings()


def test_outcome_weights_parse() -> None:
    """Weights parse into a mapping; spaces and empty parts are tolerated."""
    assert parse_outcome_weights(" completed=70, busy=30 ,") == {"completed": 70.0, "busy": 30.0}
    with pytest.raises(ValueError, match="positive weight"):
        parse_outcome_weights("completed=0")
