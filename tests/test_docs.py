"""The README, docs/ and the deployment files match the code."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_readme_starts_with_the_two_commands() -> None:
    """The first code block a newcomer sees is `make run` and `make test`."""
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def _shown(default: object) -> str:
    """A setting's default as docs/settings.md writes it in the default column."""
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    if default in ("", [], ()):
        return "empty"
    return str(default)


def test_every_setting_is_documented_and_nothing_else() -> None:
    """docs/settings.md lists exactly the settings the code reads, once each, with defaults."""
    text = (ROOT / "docs" / "settings.md").read_text()
    rows = re.findall(r"^\| `(LIVECLASS_[A-Z0-9_]+)` \| ([^|]*) \|", text, flags=re.M)
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), "a setting is documented twice"
    expected = {f"LIVECLASS_{name.upper()}": field for name, field in Settings.model_fields.items()}
    assert set(names) == set(expected)
    for name, cell in rows:
        default = expected[name].get_default(call_default_factory=True)
        assert cell.strip().strip("`") == _shown(default), f"{name}: the default is {default!r}"


def test_readme_is_a_first_screen_and_pointers() -> None:
    """The README stays short; reference material lives in docs/."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 100


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_docs_resolve() -> None:
    """Every relative link in README.md and docs/ names a file that exists, and a heading in it."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http://, mailto: and the like
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.is_file(), f"{page.name} links to missing {target}"
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{page.name}: no #{anchor}"


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
