"""Settings from ``BATCHDIAL_*`` environment variables (and an optional ``.env``).

Built in each entry point's ``main()`` with :func:`load_settings`, never at import
time, so tests and embedded runs can build their own.
"""

from __future__ import annotations

import logging
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.values import (
    DEFAULT_WEBHOOK_RETRY_SECONDS,
    parse_outcome_weights,
    parse_retry_seconds,
    parse_sentinels,
    sentinel_pair_problem,
    url_template,
)
from domain.errors import ConfigError
from domain.pacing import MAX_DIALS_PER_SECOND, MIN_DIALS_PER_SECOND
from domain.telnyx import load_public_key

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
ENV_PREFIX = "BATCHDIAL_"
#: Values of ``BATCHDIAL_LOG_LEVEL`` (any case), most verbose first.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: An Account SID as Twilio issues them (twilio.com/docs/iam/api/account).
_ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
#: The settings each real carrier's dialer cannot start without (SPEC §8.1).
CARRIER_SETTINGS: dict[str, tuple[str, ...]] = {
    "twilio": ("public_url", "twilio_account_sid", "twilio_auth_token", "twilio_agent_url"),
    "telnyx": ("public_url", "telnyx_api_key", "telnyx_connection_id", "telnyx_public_key"),
    "livekit": (
        "public_url",
        "livekit_url",
        "livekit_api_key",
        "livekit_api_secret",
        "livekit_sip_trunk_id",
    ),
}
#: A Telnyx connection (Call Control Application) id: it goes into a URL path as is.
_CONNECTION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def _is_set(value: object) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value().strip())
    return bool(value)


class Settings(BaseSettings):
    """Every setting of the service; see docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis for broker, state, semaphores and events; "
        "memory:// runs on an in-process Redis (fakeredis)",
    )
    # Redis Sentinel (docs/failover.md): when set, every process finds the primary through
    # these instead of BATCHDIAL_REDIS_URL's host (its db and credentials still apply).
    redis_sentinels: str = Field(
        "", description="Sentinels as host:port,host:port; empty = connect to BATCHDIAL_REDIS_URL"
    )
    redis_sentinel_master: str | None = Field(
        None, description="the name the Sentinels monitor the primary under"
    )
    redis_min_replicas: int = Field(
        0,
        ge=0,
        le=16,
        description="replicas that must have a claim (WAIT) before its call is placed, "
        "and an end before its slot is reused",
    )
    namespace: str = Field("batchdial", description="prefix of every Redis key and queue")
    dialer: Literal["simulated", "http", "twilio", "telnyx", "livekit"] = "simulated"
    dialer_url: str | None = None
    dialer_secret: SecretStr | None = None
    admin_key: SecretStr | None = Field(
        None, description="the operator's key for /api/admin/workspaces (unset: that API is off)"
    )
    dialer_timeout_seconds: float = Field(10.0, gt=0, le=600)
    # Real carriers (SPEC §8.1): where the carrier reaches `batchdial api`, and the
    # carrier's own settings (docs/carriers.md: "Twilio").
    public_url: str | None = Field(
        None,
        description="base URL under which carriers reach `batchdial api` (their callbacks "
        "go to routes under it, and their signatures are computed over it)",
    )
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_agent_url: str | None = Field(
        None, description="the agent's TwiML URL: a template with {callAgentId} and {dialId}"
    )
    twilio_api_base: str = "https://api.twilio.com"
    # Telnyx Call Control (docs/carriers.md: "Telnyx").
    telnyx_api_key: SecretStr | None = None
    telnyx_connection_id: str | None = Field(
        None, description="the id of the Call Control Application (connection) calls go out on"
    )
    telnyx_public_key: str | None = Field(
        None, description="the account's base64 Ed25519 public key (verifies the webhooks)"
    )
    telnyx_api_base: str = "https://api.telnyx.com"
    telnyx_stream_url: str | None = Field(
        None,
        description="optional: the agent's media-stream WebSocket URL, a template with "
        "{callAgentId} and {dialId} (the Dial's stream_url)",
    )
    # LiveKit SIP (docs/carriers.md: "LiveKit SIP").
    livekit_url: str | None = Field(
        None,
        description="the LiveKit server (or LiveKit Cloud project) URL, http(s):// or "
        "ws(s)://; its server API is the same host over http(s)",
    )
    livekit_api_key: str | None = None
    livekit_api_secret: SecretStr | None = None
    livekit_sip_trunk_id: str | None = Field(
        None, description="the outbound SIP trunk calls go through (ST_…)"
    )
    livekit_ringing_timeout_seconds: float = Field(
        30.0, ge=1, le=300, description="how long a LiveKit call rings before it is no-answer"
    )
    simulated_call_seconds: float = Field(1.0, ge=0, le=86400)
    simulated_outcomes: str = "completed=70,no-answer=20,busy=5,failed=5"
    metrics_port: int = Field(9191, ge=0, le=65535)
    # Where `batchdial worker` serves /metrics: every interface, as Prometheus scrapes
    # from outside the host or pod.
    metrics_host: str = Field("0.0.0.0", min_length=1)  # noqa: S104
    # Keep the Prometheus multiprocess directory when `batchdial worker` stops (debugging).
    keep_metrics_dir: bool = False
    max_call_seconds: float = Field(3600.0, gt=0, le=7 * 86400)
    lease_seconds: float = Field(30.0, ge=1, le=3600)
    max_dials_per_second: int | None = Field(
        None,
        ge=MIN_DIALS_PER_SECOND,
        le=MAX_DIALS_PER_SECOND,
        description="dial starts allowed in any one-second window, all workspaces together "
        "(a carrier account's calls-per-second limit); unset = no limit. Give every "
        "worker the same value.",
    )
    # Limits of the HTTP API and the producer (documented in docs/api.md).
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    body_read_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="a request body not received whole this long after the API starts "
        "reading it is answered 408 body_timeout (and its connection closed)",
    )
    max_rows_per_job: int = Field(100_000, ge=1)
    max_inputs_per_row: int = Field(50, ge=0)
    max_input_key_chars: int = Field(64, ge=1)
    max_input_value_chars: int = Field(1024, ge=1)
    max_streams_per_key: int = Field(
        20,
        ge=1,
        description="event streams one API key (workspace) may have open in one API "
        "process; one more is answered 429",
    )
    log_level: str = Field("INFO", description="level of the log lines every process writes")
    # Webhooks to the customer (SPEC §8.2, docs/webhooks.md).
    webhook_allow_private: bool = Field(
        False, description="allow http:// and loopback/private webhook destinations"
    )
    webhook_retry_seconds: str = Field(
        DEFAULT_WEBHOOK_RETRY_SECONDS,
        description="waits before each retry of a failed webhook delivery, comma-separated",
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)
    # Defaults of the command's options (a flag given on the command line wins):
    # `batchdial api --host/--port` (and `demo --serve`), `batchdial worker
    # --processes/--threads`, `batchdial demo --serve`.
    api_host: str = Field("127.0.0.1", min_length=1)
    api_port: int = Field(8000, ge=0, le=65535)
    worker_processes: int = Field(1, ge=1)
    worker_threads: int = Field(8, ge=1)
    demo_serve: bool = False

    @field_validator("namespace")
    @classmethod
    def _check_namespace(cls, value: str) -> str:
        if not _NAMESPACE_RE.match(value):
            raise ValueError(
                "letters, digits, '_', '.', '-' only, 1-64 characters, starting with a "
                "letter or digit"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://", "memory://")):
            raise ValueError("a redis://, rediss://, unix:// or memory:// URL")
        return value

    @field_validator("redis_sentinels", "redis_sentinel_master")
    @classmethod
    def _check_sentinels(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.field_name == "redis_sentinels":
            parse_sentinels(value)
        elif not value.strip() or any(c.isspace() for c in value):
            raise ValueError("a master name without spaces (`sentinel monitor <name> …`)")
        return value.strip()

    @field_validator("dialer_url")
    @classmethod
    def _check_dialer_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value

    @field_validator("public_url", "twilio_api_base", "telnyx_api_base")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        base = value.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("an http:// or https:// URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("a base URL without ?query or #fragment")
        return base

    @field_validator("livekit_url")
    @classmethod
    def _check_livekit_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        base = value.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            raise ValueError(
                "the LiveKit URL: https://, wss://, http:// or ws:// and a host "
                "(LiveKit Cloud shows it as wss://<project>.livekit.cloud)"
            )
        if parts.query or parts.fragment:
            raise ValueError("a base URL without ?query or #fragment")
        return base

    @field_validator("livekit_api_key", "livekit_sip_trunk_id")
    @classmethod
    def _check_livekit_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.strip() or any(c.isspace() for c in value):
            raise ValueError("a LiveKit id without spaces (`lk` and the LiveKit console show it)")
        if info.field_name == "livekit_sip_trunk_id" and not value.startswith("ST_"):
            raise ValueError("an outbound SIP trunk id, ST_… (`lk sip outbound list` shows it)")
        return value

    @field_validator("twilio_account_sid")
    @classmethod
    def _check_account_sid(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT_SID_RE.match(value):
            raise ValueError("an Account SID: 'AC' and 32 hex digits (the Twilio console shows it)")
        return value

    @field_validator("twilio_agent_url")
    @classmethod
    def _check_agent_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return url_template(
            value, ("http", "https"), "an http:// or https:// URL (the agent's TwiML)"
        )

    @field_validator("telnyx_connection_id")
    @classmethod
    def _check_connection_id(cls, value: str | None) -> str | None:
        if value is not None and not _CONNECTION_ID_RE.match(value):
            raise ValueError(
                "the id of a Telnyx Call Control Application (Mission Control: Voice, "
                "Programmable Voice): letters, digits, '_' and '-' only"
            )
        return value

    @field_validator("telnyx_public_key")
    @classmethod
    def _check_public_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        load_public_key(value)
        return value.strip()

    @field_validator("telnyx_stream_url")
    @classmethod
    def _check_stream_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        what = "a ws:// or wss:// URL (where Telnyx streams the call's media)"
        return url_template(value, ("ws", "wss"), what)

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        # The standard library's other names (WARN, FATAL, NOTSET) work as well.
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"one of {', '.join(LOG_LEVELS)} (any case)")
        return level

    @field_validator("demo_serve", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        # Set but empty (`BATCHDIAL_DEMO_SERVE=`) has always meant "do not serve".
        return False if isinstance(value, str) and not value.strip() else value

    @field_validator("simulated_outcomes")
    @classmethod
    def _check_outcomes(cls, value: str) -> str:
        parse_outcome_weights(value)
        return value

    @field_validator("webhook_retry_seconds")
    @classmethod
    def _check_retry_seconds(cls, value: str) -> str:
        parse_retry_seconds(value)
        return value

    @model_validator(mode="after")
    def _check_http_dialer(self) -> Settings:
        if self.dialer == "http" and not self.dialer_url:
            raise ValueError(
                f"{ENV_PREFIX}DIALER=http needs {ENV_PREFIX}DIALER_URL (where dial requests go)"
            )
        return self

    @model_validator(mode="after")
    def _check_sentinel_pair(self) -> Settings:
        problem = sentinel_pair_problem(
            bool(self.redis_sentinels), bool(self.redis_sentinel_master), self.redis_url
        )
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _check_carrier(self) -> Settings:
        needs = CARRIER_SETTINGS.get(self.dialer, ())
        missing = [name for name in needs if not _is_set(getattr(self, name))]
        if missing:
            names = ", ".join(f"{ENV_PREFIX}{name.upper()}" for name in missing)
            raise ValueError(f"{ENV_PREFIX}DIALER={self.dialer} needs {names} set")
        return self

    @property
    def sentinels(self) -> tuple[tuple[str, int], ...]:
        """The parsed ``redis_sentinels`` (empty: connect by ``redis_url``)."""
        return parse_sentinels(self.redis_sentinels)

    @property
    def webhook_retry_schedule(self) -> tuple[int, ...]:
        """The parsed ``webhook_retry_seconds``."""
        return parse_retry_seconds(self.webhook_retry_seconds)

    @property
    def outcome_weights(self) -> dict[str, float]:
        """The parsed ``simulated_outcomes``."""
        return parse_outcome_weights(self.simulated_outcomes)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, or raise :class:`ConfigError` naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
            message = str(err["msg"]).removeprefix("Value error, ")
            # A check of the whole settings (loc empty) has them all as its input,
            # secrets in the clear: name no value then.
            got = f" (got {err.get('input')!r})" if field else ""
            problems.append(f"{name}: {message}{got}")
        raise ConfigError("invalid setting: " + "; ".join(problems)) from None
