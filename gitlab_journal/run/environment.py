"""What a run records about where it ran: Python, platform, machine, host, package versions.

A reproduction compares these with its own to name the likely cause of a difference.
"""

from __future__ import annotations

import platform
import socket
from importlib import metadata
from typing import Any

from gitlab_journal import __version__

# The packages whose versions can change a result: the numeric stack, the back ends, and the
# readers of data files. Those not installed are left out.
PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "keras",
    "tensorflow",
    "tensorflow-cpu",
    "pandas",
    "pyarrow",
)


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
        "machine": platform.machine(),
        "host": socket.gethostname(),
        "packages": packages,
    }
