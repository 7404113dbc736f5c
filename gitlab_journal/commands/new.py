"""`git journal new`: write a spec from one of the bundled templates."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from gitlab_journal.errors import JournalError

SUFFIXES = (".yaml", ".yml")
CI_TEMPLATES = ("gitlab-ci.yml", "github-actions.yml")  # beside the specs, but not specs


def templates() -> dict[str, str]:
    """Template name -> its text."""
    folder = resources.files("gitlab_journal.templates")
    out: dict[str, str] = {}
    for entry in folder.iterdir():
        name = entry.name
        if entry.is_file() and name.endswith(SUFFIXES) and name not in CI_TEMPLATES:
            out[name.rsplit(".", 1)[0]] = entry.read_text(encoding="utf-8")
    return dict(sorted(out.items()))


HELP = "write a spec from a template"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", default="sklearn-classifier", help="template name")
    parser.add_argument("--output", "-o", default="journal.yaml", help="where to write the spec")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.add_argument("--list", action="store_true", help="list the templates and exit")


def run(args: argparse.Namespace) -> int:
    available = templates()
    if args.list:
        for name, text in available.items():
            first = next((ln.lstrip("# ") for ln in text.splitlines() if ln.startswith("#")), "")
            print(f"{name:24} {first}")
        return 0
    if args.template not in available:
        raise JournalError(
            f"unknown template {args.template!r}",
            hint="one of: " + ", ".join(available),
        )
    target = Path(args.output)
    if target.exists() and not args.force:
        raise JournalError(f"{target} already exists", hint="use --force to overwrite it")
    target.write_text(available[args.template], encoding="utf-8")
    print(f"Wrote {target} from the template {args.template}.")
    print(
        f"Edit it, then `git journal run {target}`."
        if target.name != "journal.yaml"
        else "Edit it, then `git journal run`."
    )
    return 0
