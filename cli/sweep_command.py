"""``descent sweep SWEEP.json [-o OUT.json]`` (docs/spec.md §10): run a sweep (§9.1) locally, no
server, through ``engine.sweep`` (the same expansion, validation, grouping and vectorised loops
as the service), with a progress bar on a terminal."""

from __future__ import annotations

import argparse
import math
import sys

from cli.errors import (
    EXIT_OK,
    CommandError,
    check_output_path,
    read_json_object,
    spec_problems,
    write_output,
)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``sweep`` to the ``descent`` command."""
    sweep = commands.add_parser(
        "sweep", help="run a sweep (a base spec times a grid) here, no server",
        description="Run a sweep on this machine: every run of a base spec times a grid of "
        "values (and extra override runs), and print the best runs first.",
    )
    sweep.add_argument("sweep", metavar="SWEEP.json",
                       help='the sweep {"base": …, "grid": …, "overrides": […]} (a JSON file; '
                       "- reads stdin)")
    sweep.add_argument("-o", "--output", metavar="OUT.json",
                       help="write {runs, table, summary} here")
    sweep.add_argument("--trajectories", default="", metavar="all|0,5,7",
                       help="runs whose trajectories go into the output: 'all' or run indices")
    sweep.add_argument("--max-points", type=int, default=None, metavar="N",
                       help="at most this many points per written trajectory")
    sweep.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=command_sweep)


def _wanted_trajectories(text: str) -> bool | list[int]:
    if text == "all":
        return True
    try:
        wanted = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--trajectories takes 'all' or run indices such as 0,5,7, "
                           f"not {text!r}") from None
    if any(index < 0 for index in wanted):
        raise CommandError(f"--trajectories: run indices start at 0, not {min(wanted)}")
    return wanted


def command_sweep(args: argparse.Namespace) -> int:
    from cli.progress import ProgressBar
    from engine import SpecErrors, dumps
    from engine.sweep import run_sweep_locally

    body = read_json_object(args.sweep, "a sweep")
    wanted = _wanted_trajectories(args.trajectories)
    if args.max_points is not None and args.max_points < 2:
        raise CommandError(f"--max-points must be at least 2, not {args.max_points}")
    check_output_path(args.output)
    bar = ProgressBar(enabled=sys.stderr.isatty() and not args.quiet)
    try:
        result = run_sweep_locally(body, bar.update, trajectories=wanted,
                                   max_points=args.max_points)
    except SpecErrors as errors:
        raise CommandError(f"{args.sweep}: invalid sweep: {spec_problems(errors)}") from None
    finally:
        bar.close()
    if args.output:
        write_output(args.output, dumps(result))
    print(format_table(result))
    return EXIT_OK


def format_table(result: dict, rows: int = 10) -> str:
    """The best runs: rank, index, what the run changed, stop reason, steps, final loss."""
    by_index = {entry["index"]: entry for entry in result["runs"]}
    lines = [f"{len(result['runs'])} runs; best first:",
             f"{'rank':>4} {'run':>5}  {'final loss':>12}  {'steps':>7}  stop_reason  overrides"]
    for rank, index in enumerate(result["table"][:rows], start=1):
        entry = by_index[index]
        loss = None if entry["final"] is None else entry["final"]["loss"]
        shown = "null" if loss is None or math.isnan(loss) else f"{float(loss):.6g}"
        changes = ", ".join(f"{k}={v}" for k, v in entry["overrides"].items())
        lines.append(f"{rank:>4} {index:>5}  {shown:>12}  {entry['steps']:>7}  "
                     f"{entry['stop_reason']:<11}  {changes}")
    return "\n".join(lines)
