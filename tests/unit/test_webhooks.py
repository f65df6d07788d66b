"""Webhooks' pure parts (issue 16): the address classifier (connects to nothing), the
event filter, the signature against the specification's test vector, the settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from config.settings import load_settings
from config.values import DEFAULT_WEBHOOK_RETRY_SECONDS
from domain.errors import ConfigError
from domain.webhooks.addresses import host_problem, is_public, url_problem
from domain.webhooks.events import EVENT_TYPES, matches, normalized, pattern_problem
from domain.webhooks.signing import headers, new_secret, signature

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "169.254.169.254",
        "127.0.0.1",
        "127.8.9.10",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.251",
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    """Loopback, private, link-local (cloud metadata), unique-local, multicast,
    unspecified, CGNAT and IPv6 forms carrying such an IPv4 address are not public."""
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address: str) -> None:
    """Addresses on the public internet may be webhook destinations."""
    assert is_public(ipaddress.ip_address(address))


def test_a_host_is_refused_if_any_of_its_addresses_is_not_public() -> None:
    """One private address among public ones is enough to refuse (a name can answer
    both, and the connection may take either)."""
    assert host_problem("mixed.example", lambda _h: ["93.184.216.34", "10.0.0.7"])
    assert host_problem("ok.example", lambda _h: ["93.184.216.34"]) is None

    def fails(_host: str) -> list[str]:
        raise OSError("no such name")

    assert "does not resolve" in str(host_problem("nowhere.example", fails))


def test_urls_need_https_unless_private_destinations_are_allowed() -> None:
    """http is refused unless allowed; credentials in the URL are refused; with
    allow_private the host is not resolved at all."""

    def public(_host: str) -> list[str]:
        return ["93.184.216.34"]

    assert url_problem("https://hooks.example/x", allow_private=False, resolver=public) is None
    assert "https://" in str(url_problem("http://hooks.example/x", allow_private=False))
    assert url_problem("ftp://hooks.example/x", allow_private=True)
    assert url_problem("https://u:p@hooks.example/x", allow_private=False, resolver=public)

    def never(_host: str) -> list[str]:
        raise AssertionError("resolved")

    assert url_problem("http://127.0.0.1:9/x", allow_private=True, resolver=never) is None


def test_the_event_list_names_every_event_the_scripts_emit() -> None:
    """Every event type written by domain/lua is in EVENT_TYPES (the filter's list)."""
    found: set[str] = set()
    for script in (ROOT / "domain" / "lua").rglob("*.lua"):
        text = script.read_text(encoding="utf-8")
        found |= set(re.findall(r"'((?:job|dial|row|suppression|webhook)\.[a-z_]+)'", text))
    assert found, "the pattern found nothing"
    assert found - set(EVENT_TYPES) == set()


def test_filters_exact_prefix_and_everything() -> None:
    """``*`` matches all, ``row.*`` the row events, an exact type itself; unknown
    names and prefixes are refused with the allowed ones named."""
    assert matches(["*"], "dial.started")
    assert matches(["row.*"], "row.suppressed")
    assert not matches(["row.*"], "dial.finished")
    assert matches(["dial.finished", "job.completed"], "job.completed")
    assert not matches(["dial.finished"], "dial.finishedx")
    assert pattern_problem("row.*") is None
    assert "dial.finished" in str(pattern_problem("dial.finish"))
    assert pattern_problem("nope.*")
    assert normalized(["a", "b", "a"]) == ["a", "b"]
    assert normalized(["dial.finished", "*"]) == ["*"]


def test_signature_matches_the_specification_test_vector() -> None:
    """The published Standard Webhooks vector (secret, id, timestamp, body) signs to
    its published signature."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    got = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_sign_what_independent_code_and_the_package_verify() -> None:
    """A fresh secret has 32 random bytes; its headers verify with a plain HMAC and with
    the standardwebhooks verifier; another secret does not verify them."""
    secret = new_secret()
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    assert len(key) == 32
    body = '{"type":"dial.finished"}'
    ts = int(time.time())
    sent = headers(secret, "msg_1", ts, body)
    mac = hmac.new(key, f"msg_1.{ts}.{body}".encode(), hashlib.sha256).digest()
    assert sent["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
    Webhook(secret).verify(body, sent)
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(body, sent)


def test_retry_schedule_setting() -> None:
    """BATCHDIAL_WEBHOOK_RETRY_SECONDS is a comma list of whole seconds; a bad one is
    refused naming the variable."""
    assert load_settings().webhook_retry_schedule == tuple(
        int(x) for x in DEFAULT_WEBHOOK_RETRY_SECONDS.split(",")
    )
    assert load_settings(webhook_retry_seconds=" 1, 2 ").webhook_retry_schedule == (1, 2)
    for bad in ("", "1,,2", "-1", "1.5", "5,x", "999999999"):
        with pytest.raises(ConfigError, match="BATCHDIAL_WEBHOOK_RETRY_SECONDS"):
            load_settings(webhook_retry_seconds=bad)
