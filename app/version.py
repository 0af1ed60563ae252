"""The version of this Tideover: the installed distribution's (pyproject.toml), stamped into a bundle
by packaging/build.py with the distribution's metadata."""

from __future__ import annotations

from importlib import metadata


def app_version() -> str:
    try:
        return metadata.version("tideover")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"
