"""`git journal run [SPEC]`: train every grid point not yet run and record each run."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from gitlab_journal.commands.common import add_spec_arguments, open_store, spec_from_args
from gitlab_journal.commands.search_options import add_search_arguments, run_search
from gitlab_journal.console import make_console
from gitlab_journal.errors import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, JournalError
from gitlab_journal.journal.records import STATUSES
from gitlab_journal.journal.store import Store
from gitlab_journal.run.claims_local import DEFAULT_TIMEOUT as DEFAULT_LOCAL_TIMEOUT
from gitlab_journal.run.plan import Plan, make_plan
from gitlab_journal.run.slots import Slots
from gitlab_journal.run.stopping import sigterm_interrupts
from gitlab_journal.run.summary import print_dry_run, print_elsewhere, print_report
from gitlab_journal.run.validate import validate
from gitlab_journal.spec.model import Spec

if TYPE_CHECKING:
    from rich.console import Console

HELP = "train every grid point not yet run and record each run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument(
        "--force", action="store_true", help="re-run points already run (records a repeat)"
    )
    parser.add_argument(
        "--retry",
        metavar="STATUS[,STATUS]",
        default="",
        help="also train the points whose latest run has this status (failed, diverged, "
        "stalled, not-converged; a comma list; interrupted points train again anyway); each "
        "new run is a repeat",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would run; train nothing")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="make pre-flight findings fatal: stop before training a point that has any; "
        "refuse to record a point whose data changed while it trained",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="train in N worker processes (this process records each run as it arrives)",
    )
    parser.add_argument(
        "--executor",
        metavar="dask://HOST:PORT",
        help="train on a Dask distributed cluster; the workers load the data themselves",
    )
    parser.add_argument(
        "--claim",
        metavar="REMOTE",
        help="share the grid with other machines: claim each point on REMOTE before training "
        "it, and push each run there",
    )
    parser.add_argument(
        "--claim-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a claim older than this is stale and taken over (default: 6 hours)",
    )
    add_search_arguments(parser)
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="PATH",
        help="with `-- COMMAND`: a file or folder the command reads (hashed; repeatable)",
    )
    parser.add_argument(
        "--metrics",
        metavar="FILE",
        help="with `-- COMMAND`: the JSON file of metrics it writes (default metrics.json)",
    )


def run(args: argparse.Namespace) -> int:
    # SIGTERM (`timeout`, `docker stop`, a cancelled CI job) stops a run as Ctrl-C does: what
    # trained is recorded, the claims are released, exit 130
    with sigterm_interrupts():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    store = open_store()
    command_argv = getattr(args, "command_argv", None)
    if command_argv is not None:
        if args.spec:
            raise JournalError("give a spec or a command after --, not both")
        spec = adhoc_spec(store, command_argv, data=args.data, metrics=args.metrics)
        adhoc = True
    elif args.data or args.metrics:
        raise JournalError("--data and --metrics go with a command: git journal run -- COMMAND")
    else:
        spec = spec_from_args(args, store)
        adhoc = False
    console = make_console()
    if args.search:
        return run_search(args, store, spec, console)
    # the cores this repository's runs share on this machine: a run that finds none free
    # plans without loading anything, and waits for one before it trains
    slots = None if args.dry_run or args.executor else Slots.of(store, args.jobs)
    free = slots is None or slots.try_take()
    try:
        if args.jobs > 1 and not args.dry_run and free:
            from gitlab_journal.run.executors import warm_up

            warm_up(args.jobs, {model.kind for model in spec.models})  # while the plan is made
        retry = _retry_statuses(args.retry)
        # a table is read while it is hashed when it will train in this process
        here = args.jobs <= 1 and not args.executor and not args.dry_run and free
        plan = make_plan(store, spec, max_points=args.max_points, preload=here)
        if args.dry_run or plan.pending(args.force, retry):
            validate(store, plan)  # an input error is exit 2 before anything trains
        if args.dry_run:
            print_dry_run(console, _shown(plan) if adhoc else plan, force=args.force, retry=retry)
            return 0
        from gitlab_journal.run.claims_local import LocalClaims
        from gitlab_journal.run.runner import Both, execute

        claims = None
        if args.claim:
            from gitlab_journal.remote.claims import DEFAULT_TIMEOUT, Claims

            timeout = DEFAULT_TIMEOUT if args.claim_timeout is None else args.claim_timeout
            if timeout <= 0:
                raise JournalError(f"--claim-timeout must be positive, got {timeout:g}")
            claims = Claims(store, args.claim, timeout=timeout)
        local = LocalClaims(
            store,
            timeout=DEFAULT_LOCAL_TIMEOUT if args.claim_timeout is None else args.claim_timeout,
        )
        report = execute(
            store,
            plan,
            force=args.force,
            quiet=args.quiet,
            console=console,
            strict=args.strict,
            jobs=args.jobs,
            executor=args.executor,
            coordinator=Both(local, claims),
            retry=retry,
            slots=slots,
        )
    finally:
        if slots is not None:
            slots.release()
    if adhoc and not (report.recorded or report.interrupted or report.elsewhere):
        _print_already_run(console, plan)
    else:
        print_report(console, plan, report)
    taken = [(fingerprint, gone.who()) for fingerprint, gone in local.taken_over]
    if claims is not None:
        taken += [(fingerprint, holder.who()) for fingerprint, holder in claims.taken_over]
    print_elsewhere(console, report, taken, remote=claims is not None)
    if report.interrupted:  # the summary said so: no second message
        return EXIT_INTERRUPTED
    return EXIT_CHECK_FAILED if report.failed else 0


RETRYABLE = tuple(s for s in STATUSES if s != "ok")


def _retry_statuses(text: str) -> frozenset[str]:
    """``--retry failed,diverged`` as a set, every name checked."""
    names = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(names - set(RETRYABLE))
    if unknown:
        raise JournalError(
            f"--retry: unknown status {unknown[0]!r}", hint=f"use one of {', '.join(RETRYABLE)}"
        )
    return names


def adhoc_spec(store: Store, argv: list[str], *, data: list[str], metrics: str | None) -> Spec:
    """The spec of `git journal run -- COMMAND ARGS...`: one point, its params parsed from the
    command's ``--key value`` arguments."""
    from gitlab_journal.spec import command

    return command.adhoc_spec(
        argv, store.workdir or Path.cwd(), data=data, metrics=metrics, cwd=Path.cwd()
    )


def _shown(plan: Plan) -> Plan:
    """``plan`` as what prints it names it: an ad-hoc command sits in no file."""
    from gitlab_journal.spec.command import ADHOC_SHOWN

    return replace(plan, spec=replace(plan.spec, path=plan.spec.path.with_name(ADHOC_SHOWN)))


def _print_already_run(console: Console, plan: Plan) -> None:
    """What an ad-hoc command already in the journal prints instead of running."""
    from gitlab_journal.run.summary import already_run

    for planned in plan.points[:1]:
        if planned.latest is not None:
            console.print(already_run(planned.latest))
    console.print(
        "Nothing to run: the command was already run "
        "(see `git journal log`, or use --force to record a repeat)."
    )
