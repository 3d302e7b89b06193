"""Dockerfile and docker-compose.yml checked statically (there is no Docker engine here):
the services exist, their commands name real entry points, their variables are settings."""

from __future__ import annotations

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


def test_compose_has_redis_with_aof_api_and_a_scalable_worker() -> None:
    services = COMPOSE["services"]
    assert {"redis", "api", "worker"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    for service in services.values():
        assert "healthcheck" in service


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
    for package in ("engine", "worker", "api", "cli"):
        assert f"COPY {package} ./{package}" in DOCKERFILE
    assert "pip install" in DOCKERFILE
