"""deploy/: what can be checked without a Docker engine or a cluster (neither runs on our machines).

* every YAML file parses; the compose file has its services and the fhir-double profile;
* `docker compose config` (or docker-compose) validates the compose file when a Compose CLI is
  installed (it needs no engine), else the test is skipped LOUDLY;
* every Kubernetes manifest validates against the Kubernetes 1.30 JSON schemas in strict mode
  (kubernetes-validate, offline), and `kubectl kustomize` renders the kustomization when kubectl is
  installed (else a LOUD skip);
* the Deployments' probes point at routes the processes really serve, containers run non-root with
  resource requests and limits, their commands exist in the entrypoint, their settings are settings;
* the Dockerfile's entry commands exist in the entrypoint script, which `sh -n` accepts.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate

from service.settings import Settings
from tests.service.api.ehr import serving
from worker.probes import ROUTES as WORKER_ROUTES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30"
Json = dict[str, Any]
SETTINGS = {f"OSTEOALERT_{name.upper()}" for name in Settings.model_fields}


def load_all(path: Path) -> list[Json]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> list[Json]:
    return [
        doc for path in sorted(K8S.glob("*.yaml")) for doc in load_all(path) if doc["kind"] != "Kustomization"
    ]


def by_kind(kind: str) -> dict[str, Json]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def entrypoint_commands() -> set[str]:
    text = (DEPLOY / "entrypoint.sh").read_text()
    return set(re.findall(r"^\s{4}([a-z][a-z-]*)\)$", text, re.M))


def compose() -> Json:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


# --- YAML and the entrypoint --------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.yaml")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert load_all(path)


def test_the_entrypoint_is_valid_sh_and_has_every_entry_command() -> None:
    assert subprocess.run(["sh", "-n", str(DEPLOY / "entrypoint.sh")], check=False).returncode == 0
    assert entrypoint_commands() >= {"api", "worker", "beat", "migrate", "fhir-double", "osteoalert"}


def test_the_dockerfile_runs_the_entrypoint_as_a_non_root_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(
        r"^COPY --chmod=0755 deploy/entrypoint\.sh /usr/local/bin/osteoalert-entrypoint$", text, re.M
    )
    assert re.search(r'^ENTRYPOINT \["osteoalert-entrypoint"\]$', text, re.M)
    (cmd,) = re.findall(r'^CMD \["([a-z-]+)"\]$', text, re.M)
    assert cmd in entrypoint_commands()
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and all(u.split(":")[0] not in {"0", "root"} for u in users)
    assert set(re.findall(r"^EXPOSE (.+)$", text, re.M)[0].split()) == {"8000", "9808"}
    for source in re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", text, re.M):
        for item in source.split():
            assert (ROOT / item).exists(), f"COPY {item}: not in the repository"


def test_the_docker_build_context_keeps_what_the_dockerfile_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert kept >= {"pyproject.toml", "README.md", "rules", "service", "worker", "deploy/entrypoint.sh"}


# --- compose ------------------------------------------------------------------------------------------


def test_compose_has_the_services_and_the_fhir_double_profile() -> None:
    services = compose()["services"]
    assert set(services) == {"api", "worker", "beat", "redis", "postgres", "flower", "fhir-double"}
    assert services["fhir-double"]["profiles"] == ["fhir-double"]
    assert [name for name, s in services.items() if "profiles" in s] == ["fhir-double"]
    for name in ("api", "worker", "beat", "fhir-double"):
        service = services[name]
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert service["command"][0] in entrypoint_commands()
        assert service["user"] == "10001:10001"
        assert service["read_only"] is True
        assert set(service["environment"]) - {"PYTHONPATH"} <= SETTINGS
    for bundle in [a for a in services["fhir-double"]["command"] if a.startswith("/samples/")]:
        assert (ROOT / "service" / "samples" / bundle.removeprefix("/samples/")).is_file()


def test_compose_health_checks_probe_the_readiness_routes() -> None:
    services = compose()["services"]
    worker_port = services["worker"]["environment"]["OSTEOALERT_WORKER_METRICS_PORT"]
    assert "http://127.0.0.1:8000/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{worker_port}/readyz" in " ".join(services["worker"]["healthcheck"]["test"])


def compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_accepts_the_file() -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip(reason="LOUD SKIP: no Docker Compose CLI installed: compose.yaml was not validated by it")
    done = subprocess.run(
        [*cli, "-f", str(DEPLOY / "compose.yaml"), "--profile", "fhir-double", "config", "-q"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


# --- Kubernetes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_manifest_validates_against_the_kubernetes_schema(doc: Json) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_a_misspelled_field() -> None:
    deployment = copy.deepcopy(by_kind("Deployment")["osteoalert-api"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["livenesProbe"] = container.pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kubectl_kustomize_renders_the_manifests() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip(reason="LOUD SKIP: kubectl is not installed: the kustomization was not rendered")
    done = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert {d["kind"] for d in rendered} >= {"Deployment", "Service", "ConfigMap", "Secret", "Job"}
    assert all(d["metadata"].get("namespace") in {"osteoalert", None} for d in rendered)
    images = {
        c["image"]
        for d in rendered
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"registry.example.org/osteoalert:0.1.0"}


async def api_answers(tmp_path: Path, paths: set[str]) -> set[str]:
    """The paths among `paths` that the API, started through its lifespan, answers with 200."""
    async with serving(Settings(database_url=f"sqlite:///{tmp_path / 'o.db'}")) as (_, client):
        return {path for path in paths if (await client.get(path)).status_code == httpx.codes.OK}


def probe_paths(name: str) -> set[str]:
    (container,) = by_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"]
    kinds = ("livenessProbe", "readinessProbe", "startupProbe")
    return {container[k]["httpGet"]["path"] for k in kinds if k in container}


def workload_specs() -> list[tuple[str, Json]]:
    specs = [(name, d["spec"]["template"]["spec"]) for name, d in by_kind("Deployment").items()]
    return specs + [(name, d["spec"]["template"]["spec"]) for name, d in by_kind("Job").items()]


async def test_api_and_worker_probes_point_at_routes_the_processes_serve(tmp_path: Path) -> None:
    api = await api_answers(tmp_path, probe_paths("osteoalert-api") | {"/metrics"})
    served = {"osteoalert-api": api, "osteoalert-worker": set(WORKER_ROUTES)}
    listens = {
        "osteoalert-api": 8000,
        "osteoalert-worker": int(config_map()["OSTEOALERT_WORKER_METRICS_PORT"]),
    }
    for name, deployment in by_kind("Deployment").items():
        if name not in served:
            continue
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("livenessProbe", "readinessProbe"):
            action = container[probe]["httpGet"]
            assert action["path"] in served[name], f"{name} {probe} {action['path']}"
            assert ports[action["port"]] == listens[name]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"/healthz", "/readyz", "/metrics"} <= served["osteoalert-api"]


@pytest.mark.parametrize(("name", "spec"), workload_specs(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_container_runs_non_root_read_only_with_requests_and_limits(name: str, spec: Json) -> None:
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    for container in spec["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}  # noqa: S108 - an emptyDir
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, f"{name} {kind}"
        assert container["args"][0] in entrypoint_commands()
        refs = {(k, v["name"]) for e in container["envFrom"] for k, v in e.items()}
        assert refs == {("configMapRef", "osteoalert-config"), ("secretRef", "osteoalert-secrets")}


def config_map() -> dict[str, str]:
    data: dict[str, str] = by_kind("ConfigMap")["osteoalert-config"]["data"]
    return data


def test_configmap_and_secrets_hold_real_settings_that_load(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = by_kind("Secret")
    values = config_map() | secrets["osteoalert-secrets"]["stringData"]
    assert set(values) <= SETTINGS
    for key in SETTINGS:
        monkeypatch.delenv(key, raising=False)
    for key, val in values.items():
        monkeypatch.setenv(key, val)
    settings = Settings()
    assert settings.fhir_auth_mode == "smart-backend" and settings.cds_jwt_issuers
    key_path = Path(config_map()["OSTEOALERT_FHIR_AUTH_PRIVATE_KEY_PATH"])
    assert key_path.name in secrets["osteoalert-fhir-key"]["stringData"]
    for name, deployment in by_kind("Deployment").items():
        mounts = {
            m["mountPath"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for m in c["volumeMounts"]
        }
        if name != "osteoalert-beat":
            assert str(key_path.parent) in mounts


def test_beat_is_a_singleton() -> None:
    beat = by_kind("Deployment")["osteoalert-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"]["type"] == "Recreate"


def test_the_keda_autoscaling_example_scales_the_worker_on_its_queue() -> None:
    path = K8S / "examples" / "worker-autoscaling-keda.yaml"
    docs = {d["kind"]: d for d in load_all(path)}
    scaled = docs["ScaledObject"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["metadata"]["labels"]["osteoalert.org/example"] == "true"
    assert "EXAMPLE" in path.read_text().splitlines()[0]
    assert scaled["spec"]["scaleTargetRef"]["name"] in by_kind("Deployment")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == config_map()["OSTEOALERT_CELERY_QUEUE"]
    assert int(trigger["metadata"]["listLength"]) > 0
    assert trigger["authenticationRef"]["name"] == docs["TriggerAuthentication"]["metadata"]["name"]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert not [r for r in kustomization["resources"] if "examples" in r]  # never applied by default
    assert set(kustomization["resources"]) == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
