"""The README and the deployment files match the code."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_readme_starts_with_the_two_commands() -> None:
    """The first code block a newcomer sees is `make run` and `make test`."""
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_every_setting_is_documented_and_nothing_else() -> None:
    """The README settings table lists exactly the settings the code reads."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(LIVECLASS_[A-Z_]+)`", table, flags=re.M))
    expected = {f"LIVECLASS_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_compose_declares_the_services_and_real_settings() -> None:
    """docker-compose.yml has api, worker, postgres and redis, and sets only real settings."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"api", "worker", "postgres", "redis", "migrate"} <= set(compose["services"])
    expected = {f"LIVECLASS_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose["services"].items():
        for key in service.get("environment") or {}:
            if key.startswith("LIVECLASS_"):
                assert key in expected, f"{name} sets unknown {key}"
    assert compose["services"]["api"]["command"][:2] == ["liveclass", "serve"]


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    assert standalone, "no compose client: run 'make test', which installs Debian's docker-compose"
    return [standalone]


def test_compose_file_validates() -> None:
    """`docker compose config` accepts the file (no engine needed)."""
    r = subprocess.run(
        [*_compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env={"POSTGRES_PASSWORD": "x", "LIVECLASS_SECRET_KEY": "y" * 40, "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
