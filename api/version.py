"""The installed version of Liveclass, for /healthz, the start page and the OpenAPI document."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def app_version() -> str:
    """The package's version, or ``0.0.0+unknown`` when run from a tree never installed."""
    try:
        return version("liveclass")
    except PackageNotFoundError:
        return "0.0.0+unknown"
