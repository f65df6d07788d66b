"""Schemathesis with every check and every phase against a real ``batchdial api``.

``st run <openapi url> --checks all`` over the examples, coverage, fuzzing and stateful
phases, bounded (``--max-examples``) to stay under two minutes on two cores, with the
workspace-dependent values supplied by :mod:`tests.abuse.st_hooks`. Any failure of any
check (a 5xx, an undocumented status or content type, a response off its model, a
schema-valid request refused, a schema-violating one accepted) fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from domain.keys import Keys
from producer.apikeys import key_id_of
from producer.workspaces import Workspaces, hash_api_key
from tests.support.procs import ROOT, api_server, env_for
from tests.support.redis_server import REDIS_URL

pytestmark = pytest.mark.e2e

#: Examples per operation and phase: 20 in CI (~900 requests, about 25 s on two cores,
#: to keep the suite under its 15 minutes), 60 in a nightly run (BATCHDIAL_NIGHTLY=1).
MAX_EXAMPLES = 60 if os.environ.get("BATCHDIAL_NIGHTLY") == "1" else 20
#: The run's own bound (``st`` is stopped after it) and the test's, above it: on two
#: shared cores the run took 85-185 s (load average 10), over the suite's default of 120 s.
RUN_TIMEOUT_S = 420


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_schemathesis_all_checks_all_phases(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """The API's OpenAPI document tells the truth: no check of any phase fails."""
    ws = Workspaces(real_redis, Keys(namespace)).create(
        "conformance", 10, ["+12125550100", "+14155550100"]
    )
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_DIALER_SECRET="conformance-secret",
        BATCHDIAL_WEBHOOK_ALLOW_PRIVATE="true",
    )
    with api_server(env, tmp_path / "api.log") as base:
        run_env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_HOOKS": "tests.abuse.st_hooks",
            "BATCHDIAL_ST_PHONE_IDS": ",".join(p["id"] for p in ws["phoneNumbers"]),
            "BATCHDIAL_ST_DIAL_LIMIT": str(ws["dialLimit"]),
            "BATCHDIAL_ST_KEY_ID": key_id_of(hash_api_key(ws["apiKey"])),
        }
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("st")),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--generation-deterministic",
                "--no-color",
                "--header",
                f"api_key: {ws['apiKey']}",
            ],
            env=run_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    report = tmp_path / "schemathesis.txt"  # the whole report (the message keeps its tail)
    report.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"{report}:\n" + done.stdout[-6000:] + done.stderr[-2000:]
