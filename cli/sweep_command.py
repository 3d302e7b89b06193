"""``descent sweep SWEEP.json [-o OUT.json]`` (SPEC.md §10): run a sweep (§9.1) locally, no server,
through ``engine.sweep`` (the same expansion, validation, grouping and vectorised loops as the
service), with a progress bar on a terminal."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

EXIT_OK, EXIT_BAD_SPEC = 0, 2


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``sweep`` to the ``descent`` command."""
    sweep = commands.add_parser("sweep", help="run a sweep (base spec × grid) locally")
    sweep.add_argument("sweep", help="the sweep {base, grid, overrides} (JSON file, - for stdin)")
    sweep.add_argument("-o", "--output", help="write {runs, table, summary} here")
    sweep.add_argument("--trajectories", default="",
                       help="runs whose trajectories go into the output: 'all' or 0,5,7")
    sweep.add_argument("--max-points", type=int, default=None,
                       help="at most this many points per written trajectory")
    sweep.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=command_sweep)


def command_sweep(args: argparse.Namespace) -> int:
    from cli.main import _print_spec_errors, _read_json
    from cli.progress import ProgressBar
    from engine import SpecErrors, dumps
    from engine.sweep import run_sweep_locally

    body = _read_json(args.sweep)
    wanted: bool | list[int] = args.trajectories == "all"
    if args.trajectories and args.trajectories != "all":
        try:
            wanted = [int(part) for part in args.trajectories.split(",") if part.strip()]
        except ValueError:
            print(f"descent: --trajectories takes 'all' or run indices, not {args.trajectories!r}",
                  file=sys.stderr)
            return EXIT_BAD_SPEC
    bar = ProgressBar(enabled=sys.stderr.isatty() and not args.quiet)
    try:
        result = run_sweep_locally(body if isinstance(body, dict) else {}, bar.update,
                                   trajectories=wanted, max_points=args.max_points)
    except SpecErrors as errors:
        return _print_spec_errors(errors)
    finally:
        bar.close()
    if args.output:
        Path(args.output).write_bytes(dumps(result))
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
