"""Offline checks of deploy/sentinel/ (issue 20): the compose override and the
Kubernetes overlay that run batchdial on Redis with Sentinel. Each must give every
batchdial process the Sentinel settings, with values the settings accept and Sentinels
that monitor the master name the processes ask for; the Sentinel configuration the
compose file writes must be one ``redis-server --sentinel`` starts with."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.deploy import kustomize, load_yaml, settings_of
from tests.support.procs import free_port
from tests.support.waits import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SENTINEL = DEPLOY / "sentinel"
BATCHDIAL_SERVICES = ("api", "worker", "workspace")


def _sentinel_conf(override: dict[str, Any], service: str) -> str:
    script = override["services"][service]["command"][2]
    match = re.search(r"<<CONF\n(.*?)\nCONF", script, re.S)
    assert match, script
    return match.group(1)


def test_the_compose_override_connects_every_process_through_the_sentinels() -> None:
    (base,) = load_yaml(DEPLOY / "compose.yaml")
    (override,) = load_yaml(SENTINEL / "compose.yaml")
    services = override["services"]
    sentinels = [name for name in services if name.startswith("sentinel-")]
    assert len(sentinels) == 3  # a quorum of 2 survives the loss of one
    for service in BATCHDIAL_SERVICES:
        env = {**base["services"][service]["environment"], **services[service]["environment"]}
        settings = settings_of(env)
        assert {host for host, _ in settings.sentinels} == set(sentinels), service
        assert all(port == 26379 for _, port in settings.sentinels)
        assert settings.redis_min_replicas == 1
        for name in sentinels:
            conf = _sentinel_conf(override, name)
            assert f"sentinel monitor {settings.redis_sentinel_master} redis 6379 2" in conf
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis", "6379"]


def test_the_compose_sentinel_configuration_starts_a_sentinel(tmp_path: Path) -> None:
    """The configuration written at start, on loopback, is accepted and monitors."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server binary")
    (override,) = load_yaml(SENTINEL / "compose.yaml")
    port, primary = free_port(), free_port()
    conf = _sentinel_conf(override, "sentinel-1")
    conf = conf.replace("port 26379", f"port {port}").replace(
        " redis 6379 ", f" 127.0.0.1 {primary} "
    )
    path = tmp_path / "sentinel.conf"
    path.write_text(conf + "\nbind 127.0.0.1\n", encoding="utf-8")
    log = tmp_path / "sentinel.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["redis-server", str(path), "--sentinel"], stdout=out, stderr=subprocess.STDOUT
        )
    client = redis.Redis(port=port, socket_connect_timeout=0.5, decode_responses=True)
    try:

        def monitors() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return "batchdial" in client.sentinel_masters()
            except redis.ConnectionError:
                return False

        wait_until(monitors, 10, "the Sentinel to monitor batchdial", every=0.05)
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def _overlay_by_hand() -> dict[str, str]:
    kustomization = load_yaml(SENTINEL / "k8s" / "kustomization.yaml")[0]
    (base_dir,) = kustomization["resources"]
    configmap = dict(
        load_yaml((SENTINEL / "k8s" / base_dir).resolve() / "configmap.yaml")[0]["data"]
    )
    for patch in kustomization["patches"]:
        (doc,) = load_yaml(SENTINEL / "k8s" / patch["path"])
        assert doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "batchdial-config"
        configmap.update(doc["data"])
    return configmap


def _check_k8s(configmap: dict[str, str]) -> None:
    settings = settings_of(configmap)
    assert len(settings.sentinels) == 3
    assert settings.redis_sentinel_master == "batchdial"
    assert settings.redis_min_replicas == 1


def test_the_k8s_overlay_sets_the_sentinels() -> None:
    _check_k8s(_overlay_by_hand())


def test_the_k8s_overlay_builds_with_kustomize() -> None:
    """``kubectl kustomize`` renders the overlay as merged by hand (skipped without kubectl)."""
    rendered = kustomize(SENTINEL / "k8s")
    (configmap,) = [d for d in rendered if d["kind"] == "ConfigMap"]
    _check_k8s(configmap["data"])
    assert configmap["data"] == _overlay_by_hand()
