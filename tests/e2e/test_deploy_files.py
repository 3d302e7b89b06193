"""Dockerfile and docker-compose.yml checked statically (there is no Docker engine here):
the services exist, their commands name real entry points, their variables are settings.
test_scale_out.py runs the compose commands themselves."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import yaml

from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTING_VARIABLES = {f"DESCENT_{name.upper()}" for name in Settings.model_fields}


def entry_point_exists(command: list[str]) -> bool:
    """`descent <sub>` must be a registered subcommand; `uvicorn --factory m:f` a callable."""
    if command[0] == "descent":
        from cli.main import build_parser

        build_parser().parse_args(command[1:])  # exits on an unknown subcommand or option
        return True
    if command[0] == "uvicorn":
        target = next(arg for arg in command[1:] if ":" in arg)
        module, _, attribute = target.partition(":")
        return callable(getattr(__import__(module, fromlist=[attribute]), attribute))
    return command[0] == "redis-server"


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_compose_has_redis_with_aof_api_and_a_scalable_worker() -> None:
    services = COMPOSE["services"]
    assert {"redis", "api", "worker"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    for service in services.values():
        assert "healthcheck" in service
        # a process that stops by itself (a worker giving up on a full Redis exits 0) comes back
        assert service["restart"] == "unless-stopped"


def test_compose_redis_is_bounded_and_never_evicts() -> None:
    command = COMPOSE["services"]["redis"]["command"]
    assert re.fullmatch(r"\$\{DESCENT_REDIS_MAXMEMORY:-\d+[kmg]b\}", option(command, "--maxmemory"))
    assert option(command, "--maxmemory-policy") == "noeviction"


def test_each_worker_replica_has_its_own_node_name_and_the_api_splits_sweeps_for_all() -> None:
    worker, api = COMPOSE["services"]["worker"], COMPOSE["services"]["api"]
    assert "%h" in option(worker["command"], "--name")  # each container's own host name
    replicas = worker["deploy"]["replicas"]
    processes = replicas * int(option(worker["command"], "--concurrency"))
    assert api["environment"]["DESCENT_WORKERS"] == f"${{DESCENT_WORKERS:-{processes}}}"


def test_every_compose_variable_has_a_default() -> None:
    """`docker compose up` with nothing set runs (test_scale_out.py substitutes the same way)."""
    text = (ROOT / "docker-compose.yml").read_text()
    variables = re.findall(r"\$\{[^}]*\}", text)
    assert variables and all(re.fullmatch(r"\$\{\w+:-[^}]*\}", v) for v in variables), variables


def test_the_healthchecks_import_what_exists() -> None:
    """The Python one-liners of the healthchecks name real modules and attributes."""
    for name, service in COMPOSE["services"].items():
        test = service["healthcheck"]["test"]
        if test[1:3] != ["python", "-c"]:
            continue
        for node in ast.walk(ast.parse(test[3])):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = importlib.import_module(node.module)
                assert all(hasattr(module, alias.name) for alias in node.names), name


def test_the_image_runs_the_api_as_compose_does() -> None:
    docker_command = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert docker_command
    assert yaml.safe_load(docker_command.group(1)) == COMPOSE["services"]["api"]["command"]


def test_every_command_names_a_real_entry_point() -> None:
    for name, service in COMPOSE["services"].items():
        assert entry_point_exists(service["command"]), name
    docker_command = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert docker_command and entry_point_exists(yaml.safe_load(docker_command.group(1)))


def test_every_descent_variable_is_a_setting() -> None:
    used = set()
    for service in COMPOSE["services"].values():
        used |= {k for k in service.get("environment", {}) if k.startswith("DESCENT_")}
    used |= set(re.findall(r"\b(DESCENT_[A-Z_]+)=", DOCKERFILE))
    assert used and used <= SETTING_VARIABLES, used - SETTING_VARIABLES
    assert {"DESCENT_REDIS_URL", "DESCENT_BROKER_URL", "DESCENT_DATA_DIR", "DESCENT_API_KEYS",
            "DESCENT_MAX_STEPS", "DESCENT_JOB_TTL_S", "DESCENT_CORS_ORIGINS",
            "DESCENT_JOB_TIME_LIMIT_S"} <= SETTING_VARIABLES


def test_the_image_installs_the_packages_the_commands_need() -> None:
    """Every package pyproject.toml ships (``descent submit`` in the image imports the
    ``descent`` client) is copied into the image before it is installed."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [pattern.rstrip("*") for pattern in
                project["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert {"engine", "worker", "api", "cli", "descent"} <= set(packages)
    for package in packages:
        assert f"COPY {package} ./{package}" in DOCKERFILE
    assert "pip install" in DOCKERFILE
