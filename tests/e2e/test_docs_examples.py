"""The Python examples of docs/clients.md, run as they are against a real API and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.support.markdown import code_blocks
from tests.support.procs import ROOT, api_server, env_for, workspace
from tests.support.redis_server import REDIS_URL

pytestmark = pytest.mark.e2e


def test_the_client_and_producer_examples_run(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """Each python block of docs/clients.md runs to the end and prints what its comments
    say it prints."""
    blocks = code_blocks(ROOT / "docs" / "clients.md", "python")
    assert len(blocks) == 2
    env = env_for(namespace, REDIS_URL)
    ws = workspace(env, dial_limit=5, per_number=2)
    with api_server(env, tmp_path / "api.log") as base:
        env = {**env, "BATCHDIAL_API_URL": base, "BATCHDIAL_API_KEY": ws["apiKey"]}
        outputs = []
        for i, block in enumerate(blocks):
            script = tmp_path / f"example{i}.py"
            script.write_text(block)
            done = subprocess.run(
                [sys.executable, str(script)],
                env={**env, "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                cwd=tmp_path,
            )
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout.splitlines())
    client_out, producer_out = outputs
    assert client_out[0] == "2"
    assert any(line.endswith(" job.config_applied") for line in client_out)
    assert "0 +12125550123 paused" in client_out
    assert "422 invalid_input" in client_out
    assert "rows[0].toNumber" in "\n".join(client_out)
    # (structlog, not configured by the example, prints its lines on stdout too)
    assert "ACTIVE" in producer_out
    assert "['job.created', 'job.started']" in producer_out
