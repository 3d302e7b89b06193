"""``descent``: the command line (SPEC.md §10).

Engine commands (``run``, ``sweep``, ``functions``, ``optimizers``, ``plot``) need no server;
``serve``, ``worker`` and ``submit`` are the service's. Service modules are imported only by
the commands that use them, so ``descent run`` starts fast and works without them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_BAD_SPEC = 0, 1, 2


def read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text() if path != "-" else sys.stdin.read())
    except FileNotFoundError:
        raise SystemExit(f"descent: no such file: {path}") from None
    except json.JSONDecodeError as error:
        print(f"descent: {path} is not valid JSON: {error}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_SPEC) from None


def _print_spec_errors(errors: Any) -> int:
    print("The spec is invalid:", file=sys.stderr)
    for error in errors.errors:
        print(f"  - {error.field or '(spec)'}: {error.message}", file=sys.stderr)
    return EXIT_BAD_SPEC


def _command_run(args: argparse.Namespace) -> int:
    from cli.progress import ProgressBar
    from engine import SpecErrors, dumps, run_spec

    body = read_json(args.spec)
    bar = ProgressBar(enabled=sys.stderr.isatty() and not args.quiet)
    try:
        result = run_spec(body, bar.update)
    except SpecErrors as errors:
        return _print_spec_errors(errors)
    finally:
        bar.close()
    if args.output:
        # the resolved spec travels with the result, so `descent plot` can redraw the surface
        Path(args.output).write_bytes(dumps({**result.to_document(), "spec": result.spec}))
    print(format_summary(result.summary(), result.spec))
    return EXIT_OK


def format_summary(summary: dict[str, Any], spec: dict[str, Any]) -> str:
    """A one-screen summary of a run."""
    final = summary["final"]
    function = spec["function"] if isinstance(spec["function"], str) else spec["function"]["expression"]
    lines = [
        f"function      {function}",
        f"optimizer     {spec['optimizer']['name']}  lr={spec['learning_rate']:g}",
        f"stop_reason   {summary['stop_reason']} after {summary['steps']} steps"
        + (f" ({summary['epochs']:.3g} epochs)" if summary.get("epochs") is not None else ""),
        f"final loss    {_number(final['loss'])}",
        f"grad norm     {_number(final['grad_norm'])}",
        f"final params  [{', '.join(_number(v) for v in list(final['params'])[:8])}"
        + (", …]" if len(final["params"]) > 8 else "]"),
    ]
    point = summary.get("nearest_stationary_point")
    if point:
        lines.append(
            f"nearest       {point['kind']} at [{', '.join(_number(v) for v in point['params'])}]"
            f" (value {_number(point['value'])}, distance {_number(point['distance'])})"
        )
    lines.append(f"elapsed       {summary['elapsed_s'] * 1000:.1f} ms")
    return "\n".join(lines)


def _number(value: Any) -> str:
    return "null" if value is None or math.isnan(value) else f"{float(value):.6g}"


def _command_functions(args: argparse.Namespace) -> int:
    from engine import list_functions

    functions = list_functions()
    if args.json:
        print(json.dumps(functions, indent=2))
        return EXIT_OK
    print(f"{'name':<20} {'dims':<6} description")
    for entry in functions:
        print(f"{entry['name']:<20} {entry['dims']!s:<6} {entry['description']}")
    return EXIT_OK


def _command_optimizers(args: argparse.Namespace) -> int:
    from engine import describe_optimizers

    optimizers = describe_optimizers()
    if args.json:
        print(json.dumps(optimizers, indent=2))
        return EXIT_OK
    for entry in optimizers:
        hyper = ", ".join(f"{h['name']}={h['default']}" for h in entry["hyperparameters"])
        aliases = f" (aliases: {', '.join(entry['aliases'])})" if entry.get("aliases") else ""
        print(f"{entry['name']:<9} lr={entry['default_lr']:<7g} {hyper}{aliases}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="descent", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run one job spec locally, no server")
    run.add_argument("spec", help="the job spec (JSON file, - for stdin)")
    run.add_argument("-o", "--output", help="write the result document here")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_command_run)

    for name, handler, text in (
        ("functions", _command_functions, "the catalogue of functions and models"),
        ("optimizers", _command_optimizers, "the optimizers and their hyperparameters"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.set_defaults(handler=handler)

    from cli import plot, service_commands

    plot.register(commands)
    service_commands.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `descent run … | head`: the reader left, nothing to report
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
