"""Offline checks of deploy/carriers/twilio/: the compose override and the Kubernetes
overlay that place real calls through Twilio. Each must give the API and the workers
every setting the ``twilio`` dialer needs (``CARRIER_SETTINGS``), with values the
settings accept, and keep the auth token out of the non-secret config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.settings import CARRIER_SETTINGS, ENV_PREFIX
from tests.support.deploy import kustomize, load_yaml, settings_of

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TWILIO = DEPLOY / "carriers" / "twilio"
TOKEN = "BATCHDIAL_TWILIO_AUTH_TOKEN"
#: ``${NAME:?message}`` and ``${NAME:-default}``: compose's interpolation forms used here.
INTERPOLATION = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def _env_file(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def _interpolate(value: str, env: dict[str, str]) -> str:
    """What compose makes of ``value`` with ``env`` (a required name missing fails)."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if name in env:
            return env[name]
        assert kind == "-", f"{name} is required and not in env.example: {rest}"
        return rest

    return INTERPOLATION.sub(one, value)


def _needs() -> set[str]:
    return {f"{ENV_PREFIX}{name.upper()}" for name in CARRIER_SETTINGS["twilio"]}


def test_the_compose_override_gives_api_and_workers_every_twilio_setting() -> None:
    (base,) = load_yaml(DEPLOY / "compose.yaml")
    (override,) = load_yaml(TWILIO / "compose.yaml")
    example = _env_file(TWILIO / "env.example")
    for service in ("api", "worker"):
        raw = {**base["services"][service]["environment"]}
        raw.update(override["services"][service]["environment"])
        assert _needs() <= set(raw), service
        # the token comes from the (uncommitted) .env, never a literal in the file
        assert INTERPOLATION.fullmatch(str(raw[TOKEN])), f"{service}: {TOKEN} is a literal"
        env = {name: _interpolate(str(value), example) for name, value in raw.items()}
        settings = settings_of(env)
        assert settings.dialer == "twilio"
        assert settings.max_dials_per_second == 1


def test_a_missing_twilio_value_stops_compose_with_its_name() -> None:
    (override,) = load_yaml(TWILIO / "compose.yaml")
    example = _env_file(TWILIO / "env.example")
    del example[TOKEN]
    value = str(override["services"]["worker"]["environment"][TOKEN])
    with pytest.raises(AssertionError, match=TOKEN):
        _interpolate(value, example)


def _overlay_by_hand() -> tuple[dict[str, str], dict[str, str]]:
    """The overlay's ConfigMap and Secret data merged onto the base's (what its
    strategic-merge patches do to ``data`` and ``stringData``)."""
    kustomization = load_yaml(TWILIO / "k8s" / "kustomization.yaml")[0]
    (base_dir,) = kustomization["resources"]
    base = (TWILIO / "k8s" / base_dir).resolve()
    configmap = dict(load_yaml(base / "configmap.yaml")[0]["data"])
    secret = dict(load_yaml(base / "secret.yaml")[0]["stringData"])
    for patch in kustomization["patches"]:
        (doc,) = load_yaml(TWILIO / "k8s" / patch["path"])
        assert doc["metadata"]["name"] in {"batchdial-config", "batchdial-secrets"}
        if doc["kind"] == "ConfigMap":
            configmap.update(doc["data"])
        else:
            secret.update(doc["stringData"])
    return configmap, secret


def _check_k8s(configmap: dict[str, str], secret: dict[str, str]) -> None:
    assert TOKEN in secret and TOKEN not in configmap
    assert _needs() <= set(configmap) | set(secret)
    settings = settings_of({**configmap, **secret})
    assert settings.dialer == "twilio"
    assert settings.public_url == "https://dialer.example.com"


def test_the_k8s_overlay_sets_the_twilio_dialer_with_the_token_in_the_secret() -> None:
    _check_k8s(*_overlay_by_hand())


def test_the_k8s_overlay_builds_with_kustomize() -> None:
    """``kubectl kustomize`` renders the overlay as merged by hand (skipped without kubectl)."""
    rendered = kustomize(TWILIO / "k8s")
    (configmap,) = [d for d in rendered if d["kind"] == "ConfigMap"]
    (secret,) = [d for d in rendered if d["kind"] == "Secret"]
    _check_k8s(configmap["data"], secret["stringData"])
    assert (configmap["data"], secret["stringData"]) == _overlay_by_hand()
