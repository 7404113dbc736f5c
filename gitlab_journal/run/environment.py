"""What a run records about where it ran: Python, platform, machine, host, package versions.

A reproduction compares these with its own to name the likely cause of a difference.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import Iterable
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


def environment(modules: Iterable[str] = ()) -> dict[str, Any]:
    """Where a run ran; ``modules`` (import paths such as ``xgboost.sklearn.XGBClassifier``)
    add the versions of the distributions that provide them."""
    import platform  # here: `check` imports this module and needs none of it

    packages: dict[str, str] = {"gitlab-journal": __version__}
    for name in (*PACKAGES, *_distributions(modules)):
        if name in packages:
            continue
        version = _version(name)
        if version is not None:
            packages[name] = version
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "host": socket.gethostname(),
        "packages": packages,
    }


@functools.cache
def _version(name: str) -> str | None:
    """An installed distribution's version (read once a process: reading the metadata takes
    milliseconds, and an autologged script records many runs). :mod:`importlib.metadata` is
    imported here, not with the module: `check` never needs it, and it costs 10 ms."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def installed() -> tuple[str, ...]:
    """The names of the installed distributions' metadata folders (``scikit_learn-1.9.1.dist-info``
    ...) in the site directories and on ``PYTHONPATH``: they carry each version, so installing,
    removing or upgrading any package changes them. The current directory and a script's own
    folder, also on ``sys.path``, are not where packages are installed. Listing the folders
    takes about a millisecond, where reading every version through :mod:`importlib.metadata`
    takes tens."""
    import site

    places = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    places += getattr(site, "getsitepackages", list)()
    places.append(site.getusersitepackages())
    names: list[str] = []
    for place in dict.fromkeys(places):
        try:
            with os.scandir(place) as found:
                names.extend(
                    f"{place}/{item.name}"
                    for item in found
                    if item.name.endswith((".dist-info", ".egg-info"))
                )
        except OSError:
            continue
    return tuple(sorted(names))


# The top-level packages of the distributions above (and of this one): their versions are
# recorded anyway, so a model from them needs no search of the installed distributions.
_KNOWN_TOPS = frozenset(
    {"numpy", "scipy", "sklearn", "keras", "tensorflow", "pandas", "pyarrow", "gitlab_journal"}
)


def _distributions(modules: Iterable[str]) -> list[str]:
    """The installed distributions whose top-level packages ``modules`` come from (a module of
    the repository or the standard library has none). Mapping packages to distributions reads
    every installed distribution's file list (about a second in a large environment), so it is
    done only for a package neither the standard library nor ``PACKAGES`` provides."""
    tops = sorted(
        {path.partition(":")[0].split(".")[0] for path in modules if path}
        - _KNOWN_TOPS
        - sys.stdlib_module_names
    )
    if not tops:
        return []
    from importlib import metadata

    provided = metadata.packages_distributions()
    return [dist for top in tops for dist in provided.get(top, ())]
