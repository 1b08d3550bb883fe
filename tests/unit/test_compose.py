"""The container deployment: docker-compose.yml, the Dockerfile and .dockerignore.

Checked statically with PyYAML; when a ``docker compose`` v2 client is installed,
``docker compose config`` validates the file as well.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = ("api", "worker", "critical-worker", "beat", "flower", "watcher")
SERVICES = {"redis", "postgres", *APP_SERVICES}
# service -> (CLI command, the port it serves on, if any)
COMMANDS = {
    "api": ("api", 8000),
    "worker": ("worker", None),
    "critical-worker": ("worker", None),
    "beat": ("beat", None),
    "flower": ("flower", 5555),
    "watcher": ("watch", None),
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _depends(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    started = "service_started"
    return {name: (spec or {}).get("condition", started) for name, spec in depends.items()}


def _healthcheck(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test") or ""
    return " ".join(test) if isinstance(test, list) else str(test)


def _ports(service: dict[str, Any]) -> set[tuple[str, str]]:
    """(published, target) of each port; the short form may start with ${IP:-...}."""
    ports = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.add((str(port.get("published", "")), str(port["target"])))
        else:
            *rest, target = str(port).rsplit(":", 2)
            ports.add((rest[-1] if rest else "", target.split("/")[0]))
    return ports


def _volumes(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of each volume; a source may be ${VAR:-default}."""
    volumes = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            entry = (str(volume.get("source", "")), volume["target"], bool(volume.get("read_only")))
        elif ":" not in volume:
            entry = ("", volume, False)
        else:
            end = volume.index("}") + 1 if volume.startswith("${") else volume.index(":")
            target, _, mode = volume[end + 1 :].partition(":")
            entry = (volume[:end], target, "ro" in mode.split(","))
        volumes.append(entry)
    return volumes


def _is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~", "$"))


# --- docker-compose.yml ------------------------------------------------------------------


def test_the_eight_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_app_services_run_one_image_built_from_the_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    images = {services[name].get("image") for name in APP_SERVICES}
    assert len(images) == 1 and None not in images, images
    for name in APP_SERVICES:
        build = services[name].get("build")
        if build is None:
            continue  # names the same image as the others, built by them
        if isinstance(build, str):
            build = {"context": build}
        dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        assert dockerfile.resolve() == DOCKERFILE, name
    assert any(services[name].get("build") for name in APP_SERVICES)


def test_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    for key in ("container_name", "hostname", "ports"):
        assert key not in worker, f"worker has {key}: `--scale worker=N` would clash"


def test_a_worker_keeps_a_process_for_critical_work(
    services: dict[str, dict[str, Any]],
) -> None:
    _, command, *args = _command(services["critical-worker"])
    params = main.commands[command].make_context(command, list(args)).params
    assert (params["queues"], params["concurrency"]) == ("critical", 1)
    assert "critical@$$HOSTNAME" in _healthcheck(services["critical-worker"])


def test_beat_runs_once(services: dict[str, dict[str, Any]]) -> None:
    beat = services["beat"]
    assert (beat.get("deploy") or {}).get("replicas", 1) == 1
    assert beat.get("scale", 1) == 1


def test_published_ports(services: dict[str, dict[str, Any]]) -> None:
    assert _ports(services["api"]) == {("8000", "8000")}
    assert _ports(services["flower"]) == {("5555", "5555")}
    for name in ("redis", "postgres", "worker", "critical-worker", "beat", "watcher"):
        assert not _ports(services[name]), f"{name} publishes a port"


def test_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    assert "redis-cli ping" in _healthcheck(services["redis"])
    assert "pg_isready" in _healthcheck(services["postgres"])
    assert "/readyz" in _healthcheck(services["api"])
    worker = _healthcheck(services["worker"])
    assert "inspect ping" in worker
    # $HOSTNAME must reach the container's shell, not be interpolated by compose.
    assert not re.search(r"(?<!\$)\$\{?HOSTNAME", worker), worker


def test_app_services_replace_the_images_api_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    """The Dockerfile's HEALTHCHECK probes the API port: the others need their own."""
    for name in APP_SERVICES:
        healthcheck = services[name].get("healthcheck") or {}
        assert healthcheck.get("disable") or _healthcheck(services[name]), name


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    """Only the api migrates: the others start once it is healthy (migrations done)."""
    assert _depends(services["api"]) == {
        "redis": "service_healthy",
        "postgres": "service_healthy",
    }
    for name in ("worker", "critical-worker", "beat", "flower", "watcher"):
        assert _depends(services[name]).get("api") == "service_healthy", name


def test_redis_appends_only(services: dict[str, dict[str, Any]]) -> None:
    command = _command(services["redis"])
    assert command[command.index("--appendonly") + 1] == "yes"


def test_volumes(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    targets: dict[str, set[str]] = {}
    for name, service in services.items():
        for source, target, read_only in _volumes(service):
            if _is_bind(source):
                assert read_only, f"{name} mounts {source} read-write"
            elif source:
                assert source in declared, f"{name} uses an undeclared volume {source}"
                targets.setdefault(name, set()).add(target)
    assert "/data" in targets["redis"]
    assert "/var/lib/postgresql/data" in targets["postgres"]
    for name in APP_SERVICES:
        assert "/data" in targets[name], name
    for name in ("worker", "watcher"):
        media = [v for v in _volumes(services[name]) if _is_bind(v[0])]
        assert media, f"the {name} sees no media library"


def test_restart_policies(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("restart") in {"always", "unless-stopped", "on-failure"}, name


def test_shared_environment(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        env = _env(services[name])
        assert env["ORCH_BROKER_URL"] == "redis://redis:6379/0", name
        database = env["ORCH_DATABASE_URL"]
        assert re.fullmatch(r"postgresql://\S+@postgres:5432/orchestrator", database), name
        assert env["ORCH_DATA_DIR"] == "/data", name
    # The database URL carries the same password the postgres service is given.
    assert "${POSTGRES_PASSWORD" in _env(services["api"])["ORCH_DATABASE_URL"]
    assert _env(services["postgres"])["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")


def test_api_key_is_required_and_never_written_down(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        assert re.fullmatch(r"\$\{ORCH_API_KEY:\?[^}]+\}", _env(services[name])["ORCH_API_KEY"])
    for name, service in services.items():
        value = _env(service).get("ORCH_API_KEY")
        assert value is None or value.startswith("${ORCH_API_KEY:?"), name


def test_flower_password_is_never_written_down(services: dict[str, dict[str, Any]]) -> None:
    assert {"ORCH_FLOWER_USER", "ORCH_FLOWER_PASSWORD"} <= set(_env(services["flower"]))
    secret = re.compile(r"\$\{ORCH_FLOWER_PASSWORD(:?\?[^}]*|:?-)?\}")
    for name, service in services.items():
        value = _env(service).get("ORCH_FLOWER_PASSWORD")
        assert value is None or secret.fullmatch(value), f"{name}: {value!r}"


def test_orch_variables_are_known(services: dict[str, dict[str, Any]]) -> None:
    documented = set(re.findall(r"\bORCH_[A-Z_]+", (ROOT / ".env.example").read_text()))
    for name, service in services.items():
        unknown = {key for key in _env(service) if key.startswith("ORCH_")} - documented
        assert not unknown, f"{name} sets {unknown}, which nothing reads"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_commands_exist_in_the_cli(services: dict[str, dict[str, Any]], name: str) -> None:
    program, command, *args = _command(services[name])
    expected, port = COMMANDS[name]
    assert program == "orchestrator"
    assert command == expected and command in main.commands
    params = main.commands[command].make_context(command, list(args)).params
    if port is not None:
        assert params["host"] == "0.0.0.0"
        assert params["port"] == port


# --- Dockerfile and .dockerignore ---------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (line.split(None, 1)[0].upper(), (line.split(None, 1) + [""])[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def _all(instruction: str) -> list[str]:
    return [args for name, args in _instructions() if name == instruction]


def test_dockerfile_base_and_install() -> None:
    defaults = dict(arg.partition("=")[::2] for arg in _all("ARG"))
    bases = [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], f.split()[0]) for f in _all("FROM")]
    assert set(bases) == {"python:3.11-slim"}
    runs = " ".join(_all("RUN"))
    assert re.search(r"pip install \.(\s|$)", runs)
    assert "pip install -e" not in runs and "[dev]" not in runs


def test_dockerfile_copies_every_package() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [p.rstrip("*") for p in setuptools["packages"]["find"]["include"]]
    copied = {part.strip("./") for copy in _all("COPY") for part in copy.split()}
    for name in [*packages, *(f"{m}.py" for m in setuptools["py-modules"])]:
        assert name in copied, f"the Dockerfile does not copy {name}"


def test_dockerfile_runtime() -> None:
    users = _all("USER")
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert _all("WORKDIR")[-1] == "/app"
    assert {"8000", "5555"} <= {port for ports in _all("EXPOSE") for port in ports.split()}
    healthcheck = _all("HEALTHCHECK")
    assert len(healthcheck) == 1 and "/healthz" in healthcheck[0]
    assert any("/data" in volume for volume in _all("VOLUME"))
    assert any("ORCH_DATA_DIR=/data" in env for env in _all("ENV"))
    assert json.loads(_all("CMD")[-1]) == [
        "orchestrator", "api", "--host", "0.0.0.0", "--port", "8000",
    ]  # fmt: skip


def test_no_secret_in_the_image() -> None:
    for instruction in ("ENV", "ARG"):
        for args in _all(instruction):
            assert not re.search(r"API_KEY|PASSWORD|SECRET|TOKEN", args), args
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".git", ".venv", "var"} <= ignored


# --- docker compose config ------------------------------------------------------------------


def _compose_cli() -> list[str] | None:
    """A Compose v2 client: the docker plugin, or a standalone docker-compose v2."""
    docker = shutil.which("docker")
    if docker:
        plugin = subprocess.run([docker, "compose", "version"], capture_output=True)
        if plugin.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        version = subprocess.run([standalone, "version", "--short"], capture_output=True, text=True)
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2"):
            return [standalone]
    return None


@pytest.mark.skipif(_compose_cli() is None, reason="no `docker compose` (v2) client installed")
def test_docker_compose_config(tmp_path: Path) -> None:
    cli = _compose_cli()
    assert cli is not None
    # An empty env file: a local .env must not decide the outcome.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    command = [*cli, "--env-file", str(empty), "-f", str(COMPOSE_FILE), "config", "-q"]
    env = {k: v for k, v in os.environ.items() if k != "ORCH_API_KEY"}

    valid = subprocess.run(
        command, cwd=ROOT, env={**env, "ORCH_API_KEY": "x"}, capture_output=True, text=True
    )
    assert valid.returncode == 0, valid.stderr

    missing = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert missing.returncode != 0
    assert "ORCH_API_KEY" in missing.stderr
