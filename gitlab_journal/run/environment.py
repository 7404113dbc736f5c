"""What a run records about where it ran: Python, platform, host, package versions."""

from __future__ import annotations

import platform
import socket
from importlib import metadata
from typing import Any

from gitlab_journal import __version__

PACKAGES = ("numpy", "scikit-learn", "scipy", "keras", "tensorflow", "tensorflow-cpu")


def environment() -> dict[str, Any]:
    packages: dict[str, str] = {"gitlab-journal": __version__}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "host": socket.gethostname(),
        "packages": packages,
    }
