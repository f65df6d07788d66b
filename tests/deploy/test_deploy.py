"""Offline checks of deploy/: image, compose stack, Kubernetes, Prometheus, Grafana.

No network and no Docker: YAML and JSON are parsed, built-in Kubernetes kinds are
validated against the schemas that the kubernetes-validate package ships, custom
resources (KEDA, Prometheus Operator) are checked structurally, and promtool runs
only where it is on PATH.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from config.settings import Settings, load_settings
from tests.support.deploy import kustomize
from tests.support.redis_server import fail_in_ci_else_skip

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "batchdial.json"

#: Kubernetes versions whose schemas the manifests must satisfy (oldest and newest
#: that we support; kubernetes-validate ships the schemas of each minor version).
K8S_VERSIONS = ("1.30", "1.37")
#: API groups of custom resources: no schema in kubernetes-validate, checked by hand.
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}
CUSTOM_KINDS |= {("monitoring.coreos.com/v1", "ServiceMonitor")}

#: The BATCHDIAL_* variables the service documents and reads.
DOCUMENTED_ENV = frozenset(
    {
        "BATCHDIAL_REDIS_URL",
        "BATCHDIAL_NAMESPACE",
        "BATCHDIAL_DIALER",
        "BATCHDIAL_DIALER_URL",
        "BATCHDIAL_DIALER_SECRET",
        "BATCHDIAL_SIMULATED_CALL_SECONDS",
        "BATCHDIAL_SIMULATED_OUTCOMES",
        "BATCHDIAL_METRICS_PORT",
        "BATCHDIAL_MAX_CALL_SECONDS",
        "BATCHDIAL_LEASE_SECONDS",
        "BATCHDIAL_LOG_LEVEL",
        "BATCHDIAL_WORKER_PROCESSES",
        "BATCHDIAL_WORKER_THREADS",
        "BATCHDIAL_API_HOST",
        "BATCHDIAL_API_PORT",
    }
)
SECRET_ENV = "BATCHDIAL_DIALER_SECRET"
DIAL_QUEUE = "batchdial:dramatiq:dial"
METRIC_RE = re.compile(r"\b(?:batchdial|dramatiq)_\w+")
HISTOGRAM_SUFFIX_RE = re.compile(r"_(?:bucket|sum|count)$")
MIN_WORKER_GRACE_S = 60

#: What the dashboard must show (the operations issue's list of panels).
DASHBOARD_MUST_SHOW = {
    "batchdial_dials_started_total",
    "batchdial_dials_finished_total",
    "batchdial_dials_in_progress",
    "batchdial_call_duration_seconds",
    "batchdial_semaphore_refusals_total",
    "batchdial_pump_released_rows_total",
    "batchdial_window_open_to_first_dial_seconds",
    "batchdial_jobs",
    "batchdial_rows_queued",
    "batchdial_dial_queue_messages",
    "batchdial_lease_recoveries_total",
    "batchdial_provider_errors_total",
    "batchdial_http_requests_total",
    "batchdial_http_request_duration_seconds",
}

#: Alerts that must exist, with a fragment of their expression.
REQUIRED_ALERTS = {
    "BatchdialSchedulerLag": "batchdial_scheduler_lag_seconds",
    "BatchdialLeasesRecovered": "increase(batchdial_lease_recoveries_total[10m])",
    "BatchdialProviderErrorRate": "batchdial_provider_errors_total",
    "BatchdialJobsStalled": "batchdial_jobs_stalled",
    "BatchdialRedisUnreachable": "",
}


# --------------------------------------------------------------------------- helpers


@functools.cache
def _load_all(path: Path) -> list[Any]:
    """Every non-empty YAML document of ``path`` (parsed once; do not modify)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.load_all(handle, Loader=loader) if doc is not None]


def _load_one(path: Path) -> dict[str, Any]:
    docs = _load_all(path)
    assert len(docs) == 1, f"{path} should hold one YAML document"
    assert isinstance(docs[0], dict)
    return docs[0]


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"})


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.y*ml") if p.name != "kustomization.yaml")


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in _manifest_files() for doc in _load_all(path)]


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in _manifests() if doc["kind"] == kind]


def _deployment(component: str) -> dict[str, Any]:
    """The Deployment whose container runs ``batchdial <component>``."""
    found = [
        doc
        for doc in _of_kind("Deployment")
        if doc["spec"]["template"]["spec"]["containers"][0].get("args", ["api"])[0] == component
    ]
    assert len(found) == 1, f"expected one Deployment running `batchdial {component}`"
    return found[0]


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    pod = deployment["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def _configmap() -> dict[str, str]:
    (configmap,) = _of_kind("ConfigMap")
    data: dict[str, str] = configmap["data"]
    return data


def _env_of(container: dict[str, Any]) -> dict[str, str | None]:
    """Names the container's environment gets, with literal values (None if a reference)."""
    env: dict[str, str | None] = {}
    configmaps = {doc["metadata"]["name"]: doc.get("data", {}) for doc in _of_kind("ConfigMap")}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def _seconds(duration: str | int) -> float:
    """``90``, ``"60s"``, ``"1m30s"`` in seconds (compose durations)."""
    if isinstance(duration, int):
        return float(duration)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?", duration)
    assert parts and duration, f"not a duration: {duration!r}"
    hours, minutes, seconds = (int(p or 0) for p in parts.groups())
    return hours * 3600.0 + minutes * 60.0 + seconds


def _metric_names(text: str) -> set[str]:
    """Base metric names in PromQL ``text`` (histogram suffixes stripped)."""
    return {HISTOGRAM_SUFFIX_RE.sub("", name) for name in METRIC_RE.findall(text)}


def _exported_metrics() -> list[str]:
    lines = (DEPLOY / "metrics.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def _compose() -> dict[str, Any]:
    return _load_one(DEPLOY / "compose.yaml")


def _compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _alert_rules() -> Iterator[dict[str, Any]]:
    for group in _load_one(PROMETHEUS / "alerts.yml")["groups"]:
        yield from group["rules"]


def _dashboard_exprs() -> Iterator[str]:
    for panel in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]


def _dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), one list per stage."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    stages: list[list[str]] = [[]]
    for line in (ln.strip() for ln in joined.splitlines()):
        if line.upper().startswith("FROM "):
            stages.append([])
        if line:
            stages[-1].append(line)
    return stages


def _promtool(*args: str, cwd: Path = PROMETHEUS) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        # scripts/test installs it (Debian's prometheus package) when run as root.
        fail_in_ci_else_skip(
            "promtool is not on PATH (apt-get install prometheus; scripts/test does as root);"
            " the structural checks still run"
        )
    done = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"


# --------------------------------------------------------------------------- YAML


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    """Every YAML file under deploy/ parses and is not empty."""
    assert _load_all(path), f"{path} holds no YAML document"


def test_yaml_files_found() -> None:
    """The YAML files the checks below rely on are there."""
    names = {str(p.relative_to(DEPLOY)) for p in _yaml_files()}
    assert {"compose.yaml", "k8s/kustomization.yaml", "prometheus/alerts.yml"} <= names
    assert "prometheus/prometheus.yml" in names


# --------------------------------------------------------------------------- Kubernetes


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_manifests_match_kubernetes_schemas(version: str) -> None:
    """Built-in kinds validate strictly against the bundled Kubernetes JSON schemas."""
    problems = []
    validated = 0
    for filename, doc in _manifests():
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            problems.append(f"{filename} {doc['kind']}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{filename}: {exc.message}")
        else:
            validated += 1
    assert not problems, "\n".join(problems)
    assert validated >= 6


def test_manifests_are_known_and_namespace_agnostic() -> None:
    """Every manifest has apiVersion, kind and a name, and none pins a namespace."""
    for filename, doc in _manifests():
        assert doc.get("apiVersion") and doc.get("kind"), filename
        assert doc["metadata"]["name"].startswith("batchdial"), filename
        assert "namespace" not in doc["metadata"], f"{filename}: names a namespace"
    kinds = {doc["kind"] for _, doc in _manifests()}
    assert {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"} <= kinds
    assert {"ScaledObject", "ServiceMonitor"} <= kinds


def test_kustomization_lists_every_manifest() -> None:
    """kustomization.yaml lists exactly the manifest files of deploy/k8s, all existing."""
    kustomization = _load_one(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    for name in listed:
        assert (K8S / name).is_file(), f"kustomization.yaml lists {name}, which is missing"
    assert set(listed) == {p.name for p in _manifest_files()}


def test_kustomize_builds() -> None:
    """``kubectl kustomize`` renders every manifest (skipped without kubectl)."""
    assert len(kustomize(K8S)) == len(_manifests())


def test_worker_grace_period_covers_shutdown() -> None:
    """The worker pods get at least 60 s to finish the calls they hold."""
    pod = _deployment("worker")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= MIN_WORKER_GRACE_S


def test_containers_run_as_non_root() -> None:
    """Every container runs as a non-root user without privilege escalation."""
    for deployment in _of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        pod_context = pod.get("securityContext", {})
        for container in _containers(deployment):
            context = {**pod_context, **container.get("securityContext", {})}
            where = f"{deployment['metadata']['name']}/{container['name']}"
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser", 1) != 0, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert "ALL" in context.get("capabilities", {}).get("drop", []), where


def test_containers_have_resources_and_ports() -> None:
    """Every container sets requests and limits and names its ports."""
    for deployment in _of_kind("Deployment"):
        for container in _containers(deployment):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"])
            assert {"cpu", "memory"} <= set(resources["limits"])
            assert all(port.get("name") for port in container.get("ports", []))


def test_api_deployment_probes_and_replicas() -> None:
    """The API runs 2 replicas, ready on /readyz and alive on /healthz."""
    api = _deployment("api")
    assert api["spec"]["replicas"] >= 2
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["args"][:1] == ["api"]
    assert "0.0.0.0" in container["args"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz?serving=true"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8000}


def test_worker_probes_use_metrics_port() -> None:
    """The worker exposes its metrics port and is probed over TCP there, not over HTTP."""
    worker = _deployment("worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    metrics_port = int(_env_of(container).get("BATCHDIAL_METRICS_PORT") or 9191)
    assert ports == {"metrics": metrics_port}
    assert container["livenessProbe"]["tcpSocket"]["port"] in {"metrics", metrics_port}
    assert "httpGet" not in container.get("readinessProbe", {})
    env = _env_of(container)
    assert int(env["BATCHDIAL_WORKER_PROCESSES"] or 0) >= 1
    assert int(env["BATCHDIAL_WORKER_THREADS"] or 0) >= 1


def test_pods_carry_scrape_annotations() -> None:
    """API and worker pods carry prometheus.io annotations for their metrics port."""
    for component, port in (("api", 8000), ("worker", 9191)):
        annotations = _deployment(component)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"


def test_secret_is_referenced_not_inlined() -> None:
    """The dialer secret lives in the Secret, which the Deployments reference by name."""
    (secret,) = _of_kind("Secret")
    assert SECRET_ENV in {**secret.get("stringData", {}), **secret.get("data", {})}
    assert SECRET_ENV not in _configmap()
    name = secret["metadata"]["name"]
    for deployment in _of_kind("Deployment"):
        for container in _containers(deployment):
            inlined = [e for e in container.get("env", []) if e["name"] == SECRET_ENV]
            assert all("value" not in item for item in inlined), "secret value inlined"
            refs = {
                s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s
            }
            refs |= {
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in inlined
                if "secretKeyRef" in e.get("valueFrom", {})
            }
            assert name in refs, f"{container['name']} does not reference Secret {name}"


def test_config_references_resolve() -> None:
    """Every ConfigMap or Secret a container names is one of the manifests."""
    configmaps = {doc["metadata"]["name"] for doc in _of_kind("ConfigMap")}
    secrets = {doc["metadata"]["name"] for doc in _of_kind("Secret")}
    for deployment in _of_kind("Deployment"):
        for container in _containers(deployment):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets


def test_k8s_env_names_are_documented() -> None:
    """Every BATCHDIAL_* name in the ConfigMap and the Deployments is a documented one."""
    names = set(_configmap())
    for deployment in _of_kind("Deployment"):
        for container in _containers(deployment):
            names |= {item["name"] for item in container.get("env", [])}
    undocumented = {n for n in names if n.startswith("BATCHDIAL_")} - DOCUMENTED_ENV
    assert not undocumented


def test_configmap_settings_are_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The service starts with the ConfigMap's settings (and the compose file's)."""
    monkeypatch.chdir(tmp_path)  # no .env
    fields = {"BATCHDIAL_" + name.upper() for name in Settings.model_fields}
    for env in (_configmap(), _compose_env(_compose()["services"]["worker"])):
        for name in [n for n in os.environ if n.startswith("BATCHDIAL_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            if name in fields:
                monkeypatch.setenv(name, value)
        settings = load_settings()
        assert settings.namespace == "batchdial"


def test_services_select_their_deployments() -> None:
    """Each Service selects one Deployment's pods and targets a named container port."""
    for service in _of_kind("Service"):
        selector = service["spec"]["selector"]
        matched = [
            d
            for d in _of_kind("Deployment")
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matched) == 1, service["metadata"]["name"]
        port_names = {p["name"] for c in _containers(matched[0]) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


def test_disruption_budgets_cover_both_deployments() -> None:
    """A PodDisruptionBudget selects the API pods and another the worker pods."""
    covered = set()
    for budget in _of_kind("PodDisruptionBudget"):
        selector = budget["spec"]["selector"]["matchLabels"]
        for deployment in _of_kind("Deployment"):
            if selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items():
                covered.add(deployment["metadata"]["name"])
    assert covered == {d["metadata"]["name"] for d in _of_kind("Deployment")}


def test_scaledobject_scales_workers_on_dial_queue() -> None:
    """The KEDA ScaledObject scales the worker Deployment on the dial queue's length."""
    (scaled,) = _of_kind("ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    worker = _deployment("worker")
    target = spec["scaleTargetRef"]
    assert target["name"] == worker["metadata"]["name"]
    assert target.get("kind", "Deployment") == "Deployment"
    assert target.get("apiVersion", "apps/v1") == "apps/v1"
    # The scheduler and timers run in workers: never scale them to zero.
    assert spec["minReplicaCount"] >= 1
    assert spec["maxReplicaCount"] >= spec["minReplicaCount"]
    (trigger,) = [t for t in spec["triggers"] if t["type"] == "redis"]
    metadata = trigger["metadata"]
    assert all(isinstance(v, str) for v in metadata.values()), "KEDA metadata values are strings"
    assert metadata["listName"] == DIAL_QUEUE
    assert metadata["listName"] == f"{_configmap()['BATCHDIAL_NAMESPACE']}:dramatiq:dial"
    assert int(metadata["listLength"]) > 0
    assert "address" in metadata or "addressFromEnv" in metadata or "host" in metadata
    if "authenticationRef" in trigger:
        auths = {d["metadata"]["name"] for d in _of_kind("TriggerAuthentication")}
        assert trigger["authenticationRef"]["name"] in auths


def test_scaledobject_reads_the_same_redis() -> None:
    """KEDA's Redis address comes from the worker's environment and is BATCHDIAL_REDIS_URL's."""
    (scaled,) = _of_kind("ScaledObject")
    (trigger,) = [t for t in scaled["spec"]["triggers"] if t["type"] == "redis"]
    (container,) = _deployment("worker")["spec"]["template"]["spec"]["containers"]
    env = _env_of(container)
    metadata = trigger["metadata"]
    address = env[metadata["addressFromEnv"]] if "addressFromEnv" in metadata else None
    address = address or metadata.get("address")
    assert address, "the ScaledObject's Redis address is not set"
    url = urlsplit(env["BATCHDIAL_REDIS_URL"] or "")
    assert address == f"{url.hostname}:{url.port or 6379}"
    assert metadata.get("databaseIndex", "0") == (url.path.strip("/") or "0")


def test_servicemonitors_select_services() -> None:
    """The ServiceMonitors scrape /metrics on a named port of the API and worker Services."""
    services = _of_kind("Service")
    scraped = set()
    for monitor in _of_kind("ServiceMonitor"):
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        assert len(matched) == 1, monitor["metadata"]["name"]
        port_names = {port["name"] for port in matched[0]["spec"]["ports"]}
        assert monitor["spec"]["endpoints"]
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names
            assert endpoint.get("path", "/metrics") == "/metrics"
        scraped.add(matched[0]["metadata"]["name"])
    assert scraped == {s["metadata"]["name"] for s in services}


# --------------------------------------------------------------------------- compose


def test_compose_has_the_services() -> None:
    """compose.yaml runs redis, api, worker, prometheus, grafana and the admin command."""
    services = _compose()["services"]
    assert {"redis", "api", "worker", "prometheus", "grafana", "workspace"} <= set(services)
    assert services["workspace"]["profiles"], "the admin service must sit under a profile"
    assert services["workspace"]["entrypoint"][:3] == ["batchdial", "workspace", "create"]


def test_compose_redis_is_durable() -> None:
    """Redis runs with AOF fsynced every second, no eviction, and a volume."""
    redis = _compose()["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    text = " ".join(command) if isinstance(command, list) else command
    assert re.search(r"--appendonly\s+yes\b", text)
    assert re.search(r"--appendfsync\s+everysec\b", text)
    assert re.search(r"--maxmemory-policy\s+noeviction\b", text)
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    assert redis["healthcheck"]["test"]


def test_compose_workers() -> None:
    """Two worker replicas, each given at least 60 s to stop, with their settings."""
    worker = _compose()["services"]["worker"]
    assert worker["command"][:1] == ["worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert _seconds(worker["stop_grace_period"]) >= MIN_WORKER_GRACE_S
    env = _compose_env(worker)
    assert {"BATCHDIAL_WORKER_PROCESSES", "BATCHDIAL_WORKER_THREADS"} <= set(env)
    assert "ports" not in worker, "a published port would clash between replicas"


def test_compose_api() -> None:
    """The API listens on 0.0.0.0:8000, waits for a healthy Redis and has a healthcheck."""
    api = _compose()["services"]["api"]
    assert "0.0.0.0" in api["command"]
    assert any(str(p).endswith("8000") for p in api["ports"])
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    test = " ".join(api["healthcheck"]["test"])
    assert "/healthz" in test or "/readyz" in test
    assert api["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / api["build"]["context"] / api["build"]["dockerfile"]).is_file()


def test_compose_env_names_are_documented() -> None:
    """batchdial services use only documented BATCHDIAL_* variables, pointing at redis."""
    services = _compose()["services"]
    for name in ("api", "worker", "workspace"):
        env = _compose_env(services[name])
        assert set(env) <= DOCUMENTED_ENV, f"{name}: {set(env) - DOCUMENTED_ENV}"
        assert urlsplit(env["BATCHDIAL_REDIS_URL"]).hostname == "redis"
    for name, service in services.items():
        used = {n for n in _compose_env(service) if n.startswith("BATCHDIAL_")}
        assert used <= DOCUMENTED_ENV, name
    assert SECRET_ENV not in _compose_env(services["worker"]), "no secret in compose.yaml"


def test_compose_mounts_monitoring_config() -> None:
    """Prometheus and Grafana mount the files of deploy/prometheus and deploy/grafana."""
    services = _compose()["services"]
    mounts = {
        name: {str(v).split(":")[0]: str(v).split(":")[1] for v in services[name]["volumes"]}
        for name in ("prometheus", "grafana")
    }
    assert mounts["prometheus"]["./prometheus"] == "/etc/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    assert mounts["grafana"]["./grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = _load_one(GRAFANA / "provisioning" / "dashboards" / "batchdial.yaml")
    (entry,) = provider["providers"]
    assert mounts["grafana"]["./grafana/dashboards"] == entry["options"]["path"]
    for source in (*mounts["prometheus"], *mounts["grafana"]):
        if source.startswith("./"):
            assert (DEPLOY / source).is_dir(), source


# --------------------------------------------------------------------------- Prometheus


def test_prometheus_config_structure() -> None:
    """prometheus.yml scrapes api:8000 and every worker on 9191 and loads the alert rules."""
    config = _load_one(PROMETHEUS / "prometheus.yml")
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS / rule_file).is_file(), rule_file
    assert "alerts.yml" in config["rule_files"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api = jobs["batchdial-api"]
    assert api.get("metrics_path", "/metrics") == "/metrics"
    assert api["static_configs"][0]["targets"] == ["api:8000"]
    worker = jobs["batchdial-worker"]
    assert worker.get("metrics_path", "/metrics") == "/metrics"
    (dns,) = worker["dns_sd_configs"]
    assert dns["names"] == ["worker"]
    assert dns["port"] == 9191


def test_alert_rules_structure() -> None:
    """Every alert has expr, for, a severity label and summary/description annotations."""
    rules = list(_alert_rules())
    assert rules
    for rule in rules:
        name = rule["alert"]
        assert rule["expr"].strip(), name
        assert _seconds(rule["for"]) >= 0, name
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert rule["annotations"]["summary"].strip(), name
        assert rule["annotations"]["description"].strip(), name
    by_name = {rule["alert"]: rule for rule in rules}
    assert len(by_name) == len(rules), "alert names repeat"
    for name, fragment in REQUIRED_ALERTS.items():
        assert fragment in by_name[name]["expr"].replace("\n", " "), name
    assert re.search(r">\s*5\b", by_name["BatchdialSchedulerLag"]["expr"])
    assert _seconds(by_name["BatchdialSchedulerLag"]["for"]) == 120
    assert re.search(r">\s*0\.05\b", by_name["BatchdialProviderErrorRate"]["expr"])
    assert "batchdial_dials_started_total" in by_name["BatchdialProviderErrorRate"]["expr"]
    assert _seconds(by_name["BatchdialJobsStalled"]["for"]) == 600


def test_promtool_check_config() -> None:
    """promtool accepts prometheus.yml and the rules it loads (skipped without promtool,
    failed without it under CI=true)."""
    _promtool("check", "config", "prometheus.yml")


def test_promtool_check_rules() -> None:
    """promtool accepts alerts.yml (skipped without promtool, failed without it under CI=true)."""
    _promtool("check", "rules", "alerts.yml")


def test_promtool_alert_unit_tests() -> None:
    """The alerts fire as alerts.test.yml expects (skipped without promtool, failed
    without it under CI=true)."""
    _promtool("test", "rules", "alerts.test.yml")


# --------------------------------------------------------------------------- metrics


def test_metrics_txt_is_a_list_of_base_names() -> None:
    """metrics.txt lists distinct batchdial/dramatiq base names, one a line."""
    names = _exported_metrics()
    assert len(names) == len(set(names))
    for name in names:
        assert METRIC_RE.fullmatch(name), name
        assert not HISTOGRAM_SUFFIX_RE.search(name), name
    assert {"batchdial_dials_started_total", "batchdial_jobs", "dramatiq_messages_total"} <= {
        *names
    }


def test_dashboard_uses_only_exported_metrics() -> None:
    """Every metric in the dashboard's PromQL is one the code exports."""
    used = set().union(*(_metric_names(expr) for expr in _dashboard_exprs()))
    assert used <= set(_exported_metrics()), used - set(_exported_metrics())
    assert used >= DASHBOARD_MUST_SHOW, DASHBOARD_MUST_SHOW - used


def test_alerts_use_only_exported_metrics() -> None:
    """Every metric in the alert expressions is one the code exports."""
    used = set().union(*(_metric_names(rule["expr"]) for rule in _alert_rules()))
    assert used
    assert used <= set(_exported_metrics()), used - set(_exported_metrics())


def test_readme_lists_every_metric() -> None:
    """deploy/README.md names every exported metric and every alert."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    missing = [name for name in _exported_metrics() if f"`{name}`" not in readme]
    assert not missing
    assert all(f"`{rule['alert']}`" in readme for rule in _alert_rules())
    for requirement in ("appendfsync everysec", "noeviction", "Redis Cluster"):
        assert requirement in readme


# --------------------------------------------------------------------------- Grafana


def test_dashboard_structure() -> None:
    """The dashboard is a Grafana dashboard whose panels query the Prometheus datasource."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "batchdial"
    assert 36 <= dashboard["schemaVersion"] <= 41
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    datasource = {"type": "prometheus", "uid": f"${{{variable['name']}}}"}
    queries = 0
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["targets"], panel["id"]
        assert panel["datasource"] == datasource
        for target in panel["targets"]:
            assert target["expr"].strip() and target["refId"]
            queries += 1
    assert queries >= 20


def test_grafana_datasource_provisioning() -> None:
    """The provisioned datasource is compose's Prometheus, with the dashboard's default uid."""
    provisioning = _load_one(GRAFANA / "provisioning" / "datasources" / "prometheus.yaml")
    (source,) = provisioning["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["current"]["value"] == source["uid"]


# --------------------------------------------------------------------------- image


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    """The Dockerfile has a builder and a runtime stage, a non-root USER and a HEALTHCHECK."""
    preamble, *stages = _dockerfile_stages()
    assert len(stages) >= 2
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", "\n".join(preamble), flags=re.MULTILINE))
    for stage in stages:
        image = stage[0].split()[1]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert image == "python:3.11-slim"
    final = stages[-1]
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(line.upper().startswith("HEALTHCHECK ") and "/healthz" in line for line in final)
    assert any(line.startswith("COPY --from=builder") for line in final)
    assert any(re.fullmatch(r"EXPOSE\s+8000\s+9191", line) for line in final)
    cmd = next(line for line in final if line.startswith("CMD "))
    assert json.loads(cmd.removeprefix("CMD "))[0] == "api"


def test_docker_context_holds_the_wheel_sources() -> None:
    """The image copies every package of the wheel, and the .dockerignore lets them in."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        packages = tomllib.load(handle)["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    builder = _dockerfile_stages()[1]
    copied = {
        source
        for line in builder
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    needed = set(packages) | {"pyproject.toml", "requirements.lock", "README.md"}
    assert needed <= copied, needed - copied
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    allowed = {line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")}
    assert needed <= allowed, needed - allowed
