"""Validate the deployment files offline: Dockerfile, compose.yml, k8s/, Prometheus and Grafana.

Nothing here starts a container or talks to a cluster. `docker-compose config` (Debian's 1.29)
checks compose.yml; `kubectl kustomize` renders k8s/ (or, without kubectl, the plain resource
files listed in its kustomization are concatenated) and `kubernetes-validate --strict` checks
every rendered document. `promtool` (Debian's prometheus, installed by bin/ensure-services) checks
the Prometheus config, the alert rules and the dashboard's queries; tests/deploy/test_prometheus.py
runs that Prometheus against a live web process and worker.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testservices import unavailable

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
KUBERNETES_VERSION = "1.32.0"
JWT_SECRET = "compose-config-test-" + "x" * 40
APP_SERVICES = ("migrate", "web", "converter", "notifier")
BACKING_SERVICES = ("mongo", "rabbitmq", "mysql", "redis", "mailpit")
# Metric families the dashboard and alerts must use (design §6 names, as the code exports them).
WEB_METRICS = ("http_requests_total", "http_request_duration_seconds")
WORKER_METRICS = (
    "converter_jobs_total",
    "converter_conversion_seconds",
    "converter_wait_seconds",
    "notifications_total",
)
# The gauges the web app reads from the database and the broker at scrape time.
STATE_METRICS = ("vid2mp3_jobs", "vid2mp3_queue_messages")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass"}


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT, **kwargs)


def tool(name: str) -> str:
    """Return the path of a command-line tool, looking next to this Python first (the venv)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or "")


# -- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_is_slim_non_root_and_keeps_the_migrations_layout():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"python:3\.11-slim", text)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users, "the image must not run as root"
    uid = re.search(r"^ARG UID=(\d+)", text, re.MULTILINE)
    assert uid and int(uid.group(1)) >= 1000
    assert users[-1] == "${UID}:${UID}"
    # migrate.py finds alembic.ini and migrations/ two levels above src/vid2mp3/.
    assert "pip install --no-deps -e ." in text
    assert re.search(r"^COPY alembic\.ini \./", text, re.MULTILINE)
    assert re.search(r"^COPY migrations \./migrations", text, re.MULTILINE)
    assert re.search(r"^COPY src \./src", text, re.MULTILINE)
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in ("src", "migrations", "alembic.ini", "setup.cfg", "pyproject.toml", "README.md"):
        assert needed not in ignored, f".dockerignore drops {needed}, which the build copies"
    assert {".git", ".venv", "var"} <= ignored


# -- compose.yml -----------------------------------------------------------------------------


def _compose(*args: str, secret: str | None = JWT_SECRET) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    if not binary:
        unavailable("docker-compose", "install the Debian package docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env.pop("JWT_SECRET", None)
    if secret is not None:
        env["JWT_SECRET"] = secret
    return run([binary, "-f", "compose.yml", *args], env=env)


def test_compose_config_is_valid():
    result = _compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_requires_a_jwt_secret():
    result = _compose("config", "-q", secret=None)
    assert result.returncode != 0
    assert "set JWT_SECRET" in result.stderr


def test_compose_has_the_production_shape():
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    expected = {*APP_SERVICES, *BACKING_SERVICES, "prometheus", "grafana"}
    assert expected <= set(services)
    for name in BACKING_SERVICES:
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    commands = {name: services[name]["command"] for name in APP_SERVICES}
    assert commands["migrate"] == ["migrate"]
    assert commands["web"][0] == "serve"
    assert commands["converter"][:3] == ["worker", "--queues", "video"]
    assert commands["notifier"][:3] == ["worker", "--queues", "mp3"]
    assert services["mysql"]["image"].startswith("mysql:8")
    assert "--character-set-server=utf8mb4" in services["mysql"]["command"]
    assert services["migrate"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    for name in ("web", "converter", "notifier"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    # Only the buffering proxy is published; it runs the nginx config the slow-client test runs.
    assert "ports" not in services["web"]
    assert any(str(p["target"]) == "8080" for p in services["proxy"]["ports"])
    nginx_conf = services["proxy"]["volumes"][0]
    assert nginx_conf.split(":")[:2] == [
        str(ROOT / "deploy/nginx/nginx.conf"),
        "/etc/nginx/nginx.conf",
    ]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("mysql+pymysql://")
        assert env["STORAGE_URL"] == "mongodb://mongo:27017/vid2mp3"
        assert env["BROKER_URL"] == "amqp://guest:guest@rabbitmq:5672"
        assert env["SMTP_URL"] == "smtp://mailpit:1025"
        assert env["JWT_SECRET"] == JWT_SECRET
        assert env["LOG_FORMAT"] == "json"
        assert env["PUBLIC_URL"]
        assert services[name].get("read_only") is True
    # Bind mounts point at files of this repository.
    for name in ("rabbitmq", "prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), f"{name} mounts missing {source}"


# -- Kubernetes ------------------------------------------------------------------------------


def _kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _render_without_kubectl() -> list[dict]:
    """Concatenate the kustomization's plain resources, applying its namespace."""
    kustomization = _kustomization()
    unsupported = set(kustomization) - {"apiVersion", "kind", "namespace", "resources"}
    assert not unsupported, f"the fallback renderer cannot apply {sorted(unsupported)}"
    documents = []
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((K8S / resource).read_text()):
            if not document:
                continue
            if "namespace" in kustomization and document["kind"] not in CLUSTER_SCOPED:
                document["metadata"]["namespace"] = kustomization["namespace"]
            documents.append(document)
    return documents


def _render_with_kubectl() -> list[dict] | None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return None
    result = run([kubectl, "kustomize", str(K8S)])
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    """The documents `kubectl apply -k k8s/` would send."""
    return _render_with_kubectl() or _render_without_kubectl()


def _identity(document: dict) -> tuple[str, str, str]:
    meta = document["metadata"]
    return document["kind"], meta["name"], meta.get("namespace", "")


def test_kustomize_output_passes_strict_schema_validation(rendered, tmp_path):
    validator = tool("kubernetes-validate")
    if not validator:
        unavailable("kubernetes-validate", "pip install kubernetes-validate (setup.cfg [test])")
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(rendered, sort_keys=False))
    result = run([validator, "--strict", "--quiet", "-k", KUBERNETES_VERSION, str(manifest)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_fallback_rendering_matches_kubectl():
    from_kubectl = _render_with_kubectl()
    if from_kubectl is None:
        pytest.skip("kubectl is not installed: only the fallback renderer is available")
    assert sorted(map(_identity, _render_without_kubectl())) == sorted(map(_identity, from_kubectl))


def test_kubernetes_objects_are_complete(rendered):
    kinds = {(kind, name) for kind, name, _ in map(_identity, rendered)}
    for expected in [
        ("Namespace", "vid2mp3"),
        ("ConfigMap", "vid2mp3-config"),
        ("Secret", "vid2mp3-secrets"),
        ("Deployment", "web"),
        ("Deployment", "converter"),
        ("Deployment", "notifier"),
        ("Service", "web"),
        ("Job", "vid2mp3-migrate"),
        ("PodDisruptionBudget", "web"),
        ("PodDisruptionBudget", "converter"),
        ("PodDisruptionBudget", "notifier"),
        ("HorizontalPodAutoscaler", "web"),
        ("HorizontalPodAutoscaler", "converter"),
    ]:
        assert expected in kinds
    for document in rendered:
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == "vid2mp3", _identity(document)


def _pod_specs(rendered):
    for document in rendered:
        if document["kind"] in ("Deployment", "Job"):
            yield document["metadata"]["name"], document["spec"]["template"]["spec"]


def test_pods_are_locked_down(rendered):
    dockerfile_uid = int(re.search(r"^ARG UID=(\d+)", (ROOT / "Dockerfile").read_text(), re.M)[1])
    specs = dict(_pod_specs(rendered))
    assert set(specs) == {"web", "converter", "notifier", "vid2mp3-migrate"}
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == dockerfile_uid, name
        mounts_by_volume = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in mounts_by_volume[mounts["/tmp"]], name
            refs = [s.get("configMapRef") or s.get("secretRef") for s in container["envFrom"]]
            sources = {ref["name"] for ref in refs}
            assert sources == {"vid2mp3-config", "vid2mp3-secrets"}, name


def test_web_probes_and_service(rendered):
    by_identity = {_identity(doc)[:2]: doc for doc in rendered}
    web = by_identity[("Deployment", "web")]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["args"][0] == "serve"
    service = by_identity[("Service", "web")]["spec"]
    labels = by_identity[("Deployment", "web")]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    for worker, queue in (("converter", "video"), ("notifier", "mp3")):
        args = by_identity[("Deployment", worker)]["spec"]["template"]["spec"]["containers"][0]
        assert args["args"][:3] == ["worker", "--queues", queue]
    ingress = by_identity[("Ingress", "web")]
    assert (
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-request-buffering"]
        == "on"
    )
    (backend,) = [p["backend"]["service"] for p in ingress["spec"]["rules"][0]["http"]["paths"]]
    assert backend["name"] == "web"
    assert backend["port"]["name"] in {port["name"] for port in service["ports"]}
    job = by_identity[("Job", "vid2mp3-migrate")]["spec"]["template"]["spec"]
    assert job["containers"][0]["args"] == ["migrate"]
    for name in ("web", "converter"):
        target = by_identity[("HorizontalPodAutoscaler", name)]["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)


def test_secret_template_holds_only_placeholders(rendered):
    secret = next(d for d in rendered if d["kind"] == "Secret")
    values = secret.get("stringData", {})
    assert {"DATABASE_URL", "STORAGE_URL", "BROKER_URL", "SMTP_URL", "JWT_SECRET"} <= set(values)
    for key, value in values.items():
        assert "CHANGE-ME" in value, f"{key} in the Secret template is not a placeholder"


# -- Prometheus and Grafana ------------------------------------------------------------------


def test_prometheus_config_scrapes_web_and_workers():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS / rule_file).is_file()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    ports = {
        name: {sd["port"] for sd in job.get("dns_sd_configs", [])} for name, job in jobs.items()
    }
    assert ports["web"] == {8080}
    assert jobs["web"].get("metrics_path", "/metrics") == "/metrics"
    assert ports["converter"] == {9100}
    assert ports["notifier"] == {9100}


def test_alert_rules_are_well_formed():
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert {"WebDown", "HighHttp5xxRate", "QueueBacklog", "ConversionsFailing"} <= set(alerts)
    for name, rule in alerts.items():
        assert rule["expr"].strip(), name
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name
        assert rule["expr"].count("(") == rule["expr"].count(")"), name


def test_promtool_accepts_config_rules_and_dashboard_queries(tmp_path):
    promtool = shutil.which("promtool")
    if not promtool:
        unavailable("promtool", "install Debian's prometheus (bin/ensure-services does)")
    result = run([promtool, "check", "config", str(PROMETHEUS / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    # The dashboard's queries, parsed by Prometheus itself as recording rules.
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p["targets"]]
    rules = [
        {"record": f"dashboard:query{i}", "expr": e.replace("$__rate_interval", "5m")}
        for i, e in enumerate(exprs)
    ]
    rule_file = tmp_path / "dashboard-rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(rule_file)])
    assert result.returncode == 0, result.stdout + result.stderr


def _dashboard() -> dict:
    return json.loads((GRAFANA / "dashboards" / "vid2mp3.json").read_text())


def _exprs() -> list[str]:
    dashboard = [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return dashboard + [r["expr"] for g in rules["groups"] for r in g["rules"]]


def test_grafana_dashboard_panels_use_our_metrics():
    dashboard = _dashboard()
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    text = " ".join(t["expr"] for p in panels for t in p["targets"])
    for metric in (*WEB_METRICS, *WORKER_METRICS, *STATE_METRICS):
        assert metric in text, f"no panel shows {metric}"
    for panel in panels:
        assert panel["title"] and panel["targets"], panel["id"]
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), panel["title"]
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "vid2mp3.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def _families(exprs: list[str]) -> set[str]:
    names = set()
    for expr in exprs:
        for name in re.findall(r"\b((?:http|converter|notifications|vid2mp3)_[a-z_]+)\b", expr):
            names.add(re.sub(r"_(bucket|sum|count|total)$", "", name))
    return names


@pytest.mark.parametrize("family", sorted(_families(_exprs())))
def test_referenced_metrics_are_exported_by_the_code(family):
    sources = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))
    if re.search(rf'"{family}(_total)?"', sources):
        return
    if family.startswith("http_"):
        pytest.skip(f"{family}: the web app does not export its metrics yet (design §6)")
    pytest.fail(f"dashboards or alerts use {family}, which nothing in src/ defines")
