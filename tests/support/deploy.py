"""What the offline checks of deploy/ (tests/deploy) share: the YAML documents of a file,
the settings an environment gives batchdial, and an overlay rendered by kustomize."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import ENV_PREFIX, Settings, load_settings


def load_yaml(path: Path) -> list[dict[str, Any]]:
    """The documents of the YAML file at ``path`` (empty ones left out)."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def settings_of(env: Mapping[str, Any]) -> Settings:
    """The settings that the ``BATCHDIAL_*`` variables of ``env`` make (each value as
    text); a variable that names no setting fails the test."""
    fields = {
        name.removeprefix(ENV_PREFIX).lower(): str(value)
        for name, value in env.items()
        if name.startswith(ENV_PREFIX)
    }
    unknown = set(fields) - set(Settings.model_fields)
    assert not unknown, f"not batchdial settings: {unknown}"
    return load_settings(**fields)


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The documents ``kubectl kustomize directory`` renders (the test is skipped
    without kubectl)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH (optional)")
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
