"""``descent sweep SWEEP.json [-o OUT.json] [--url URL]`` (docs/spec.md §10): run a sweep (§9.1)
locally, no server, through ``engine.sweep`` (the same expansion, validation, grouping and
vectorised loops as the service), with a progress bar on a terminal; or, with ``--url``, on a
server through ``descent.Client``."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from cli.errors import (
    EXIT_INTERRUPTED,
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
    sweep.add_argument("--plot", metavar="FILE.png", help="also draw the final loss against "
                       "the swept value (like `descent plot OUT.json`)")
    sweep.add_argument("--url", default=None,
                       help="run it on this server instead (e.g. http://127.0.0.1:8000)")
    sweep.add_argument("--api-key", default=os.environ.get("DESCENT_API_KEY"),
                       help="with --url: sent as 'Authorization: Bearer KEY' "
                       "(default $DESCENT_API_KEY)")
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
    from engine import dumps, loads

    body = read_json_object(args.sweep, "a sweep")
    wanted = _wanted_trajectories(args.trajectories)
    if args.max_points is not None and args.max_points < 2:
        raise CommandError(f"--max-points must be at least 2, not {args.max_points}")
    check_output_path(args.output)
    if args.plot:
        from cli.plot import IMAGE_FORMATS

        if Path(args.plot).suffix.lower() not in IMAGE_FORMATS:
            raise CommandError(f"--plot {args.plot}: the picture is written as "
                               f"{', '.join(IMAGE_FORMATS)}; name it so")
        check_output_path(args.plot)
    if args.url:
        result = _run_on_server(args, body, wanted)
    else:
        result = _run_here(args, body, wanted)
    if args.output:
        write_output(args.output, dumps(result))
    print(format_table(result))
    if args.plot:
        from cli.plot import PlotError
        from cli.plot_sweep import plot_sweep

        try:
            print(f"wrote {plot_sweep(loads(dumps(result)), args.plot)}")
        except PlotError as error:
            raise CommandError(f"--plot {args.plot}: {error}", error.exit_code) from None
    return EXIT_OK


def _run_here(args: argparse.Namespace, body: dict[str, Any], wanted: bool | list[int]
              ) -> dict[str, Any]:
    from cli.progress import ProgressBar, interruptible
    from engine import SpecErrors
    from engine.sweep import run_sweep_locally

    bar = ProgressBar(enabled=sys.stderr.isatty() and not args.quiet)
    try:
        with interruptible(bar.update) as callback:
            result = run_sweep_locally(body, callback, trajectories=wanted,
                                       max_points=args.max_points)
    except SpecErrors as errors:
        raise CommandError(f"{args.sweep}: invalid sweep: {spec_problems(errors)}") from None
    finally:
        bar.close()
    return result


def _run_on_server(args: argparse.Namespace, body: dict[str, Any], wanted: bool | list[int]
                   ) -> dict[str, Any]:
    from cli.submit_command import connected

    with connected(args, f"{args.sweep}: the server refused the sweep") as client:
        sweep = client.sweep(body)
        if sys.stderr.isatty() and not args.quiet:
            sys.stderr.write(f"sweep {sweep.id} {sweep.status} ({client.setup.url}"
                             f"{sweep.path})\n")
        try:
            sweep.wait()
        except KeyboardInterrupt:
            raise CommandError(f"interrupted; sweep {sweep.id} goes on at {client.setup.url}"
                               f"{sweep.path}", EXIT_INTERRUPTED) from None
        total = sweep.document["progress"]["runs_total"]
        runs = range(total) if wanted is True else [i for i in wanted or [] if i < total]
        return sweep.result(runs=",".join(map(str, runs)) or None, max_points=args.max_points)


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
    for best in result.get("best", []):
        group = ", ".join(f"{k}={v}" for k, v in best["key"].items())
        if best["run"] is None:
            lines.append(f"best of {group}: none (every run diverged or was pruned)")
            continue
        rate = "" if best["learning_rate"] is None else f", learning_rate {best['learning_rate']:g}"
        lines.append(f"best of {group}: run {best['run']}{rate}, "
                     f"final loss {best['final_loss']:.6g}")
    search = result.get("summary", {}).get("search")
    if search:
        lines.append(f"halving (eta {search['eta']}, rungs {search['rungs']}): "
                     f"{search['run_steps']:,} run-steps of the full grid's "
                     f"{search['full_grid_run_steps']:,} ({search['run_steps_fraction']:.0%})")
    return "\n".join(lines)
