"""What leaves the process in logs: numbers masked, secrets dropped, ids kept."""

from __future__ import annotations

from config.logging import mask_phone, scrub


def test_phone_numbers_keep_only_their_last_four_digits() -> None:
    """E.164 numbers are masked wherever they appear, also inside longer text."""
    assert mask_phone("+12125550123") == "+*******0123"
    assert mask_phone("call +442071838750 now") == "call +********8750 now"
    assert mask_phone("job_abc.12") == "job_abc.12"


def test_scrub_masks_nested_values_and_drops_secrets() -> None:
    """Values under secret-like keys are replaced; numbers in nested values masked."""
    event = {
        "event": "dial_started",
        "job_id": "job_1",
        "to_number": "+12125550123",
        "api_key": "bd_secret",
        "headers": {"authorization": "Bearer x", "n": ["+14155550100"]},
        "dialer_secret": "s",
        "x_signature": "t=1,v1=ab",
    }
    out = scrub(None, "info", dict(event))
    assert out["job_id"] == "job_1"
    assert out["to_number"] == "+*******0123"
    assert out["api_key"] == "[redacted]"
    assert out["dialer_secret"] == "[redacted]"
    assert out["x_signature"] == "[redacted]"
    assert out["headers"] == {"authorization": "[redacted]", "n": ["+*******0100"]}
