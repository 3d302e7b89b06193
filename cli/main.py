"""``descent``: the command line (docs/spec.md §10).

Engine commands (``run``, ``sweep``, ``functions``, ``optimizers``, ``plot``) need no server;
``serve``, ``worker`` and ``submit`` are the service's. Service modules are imported only by
the commands that use them, so ``descent run`` starts fast and works without them.

Every problem a user can fix is one line on stderr and an exit code (``cli.errors``); ``main``
turns anything else into one line too, so no command prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from cli.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandError,
    check_output_path,
    read_json_object,
    spec_problems,
    write_output,
)

DESCRIPTION = """\
Run, compare and see gradient-descent optimizers: locally with no server (run, sweep, plot,
functions, optimizers) or as a service (serve, worker, submit)."""

EPILOG = """\
examples:
  descent run job.json -o result.json      run one job spec here, write its result
  descent plot result.json -o result.png   draw it: contour, trajectory, loss curve
  descent optimizers                       what can be asked for, with the defaults
  descent serve                            the whole service on http://127.0.0.1:8000

exit status: 0 done, 1 a failed job or an unreachable server, 2 bad input,
130 interrupted. Problems are reported in one line on stderr."""


def version() -> str:
    """The installed package's version (``pip install -e .`` records it)."""
    try:
        return metadata.version("descent")
    except metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def _command_run(args: argparse.Namespace) -> int:
    from cli.progress import ProgressBar, interruptible
    from engine import SpecErrors, dumps, run_spec

    body = read_json_object(args.spec, "a job spec")
    check_output_path(args.output)
    bar = ProgressBar(enabled=sys.stderr.isatty() and not args.quiet)
    try:
        with interruptible(bar.update) as callback:
            result = run_spec(body, callback)
    except SpecErrors as errors:
        raise CommandError(f"{args.spec}: invalid spec: {spec_problems(errors)}") from None
    finally:
        bar.close()
    if args.output:
        # the resolved spec travels with the result, so `descent plot` can redraw the surface
        write_output(args.output, dumps({**result.to_document(), "spec": result.spec}))
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
    if final.get("function_evaluations", summary["steps"]) != summary["steps"]:
        lines.append(f"evaluations   {final['function_evaluations']} of the objective")
    if final.get("averaged_params") is not None:
        lines.append(f"averaged      [{', '.join(_number(v) for v in final['averaged_params'][:8])}"
                     + (", …]" if len(final["averaged_params"]) > 8 else "]"))
    hessian = final.get("hessian")
    if hessian:
        lines.append(f"hessian       {hessian['positive_definite_steps']} positive definite, "
                     f"{hessian['indefinite_steps']} indefinite, {hessian['singular_steps']} "
                     "singular steps")
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
    from engine.objectives.datasets import list_models

    functions, models = list_functions(), list_models()
    if args.json:
        print(json.dumps(functions + models, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"{'name':<20} {'dims':<6} description")
    for entry in functions:
        print(f"{entry['name']:<20} {entry['dims']!s:<6} {entry['description']}")
    print(f"\n{'model (needs data)':<20} description")
    for model in models:
        print(f"{model['name']:<20} {model['description']}")
        for line in _model_lines(model):
            print(f"{'':<20} {line}")
    return EXIT_OK


def _model_lines(model: dict[str, Any]) -> list[str]:
    """A dataset model's layout, an example of its parameter names, its labels, generators
    and options (``function_params`` with their defaults)."""
    example = model["example"]
    settings = ", ".join(f"{name}={value}" for name, value in example["function_params"].items())
    options = ", ".join(f"{p['name']}={p['default']}" if "default" in p else p["name"]
                        for p in model["params"]) or "none"
    return [f"parameters {model['layout']}",
            (f"e.g. {example['n_features']} features"
            f"{f' ({settings})' if settings else ''}: {', '.join(example['parameters'])}"),
            (f"labels {model['labels']}; generators {', '.join(model['generators'])}; "
            f"function_params {options}")]


def _command_optimizers(args: argparse.Namespace) -> int:
    from engine import describe_optimizers

    optimizers = describe_optimizers()
    if args.json:
        print(json.dumps(optimizers, indent=2))
        return EXIT_OK
    for entry in optimizers:
        if not entry["applicable"]:
            print(f"{entry['name']:<9} not applicable: {entry['description']}")
            continue
        print(f"{entry['name']:<9} lr={entry['default_learning_rate']:<7g} {entry['description']}")
        hyper = ", ".join(f"{h['name']}={json.dumps(h['default'])}"
                          for h in entry["hyperparameters"])
        print(f"{'':<10}{hyper}")
        if entry.get("aliases"):
            print(f"{'':<10}aliases: " + ", ".join(_alias(alias) for alias in entry["aliases"]))
    return EXIT_OK


def _alias(alias: dict[str, Any]) -> str:
    """``nesterov (momentum=0.9, nesterov=true)``: an alias and the hyperparameters it sets."""
    sets = ", ".join(f"{name}={json.dumps(value)}" for name, value in alias["sets"].items())
    return f"{alias['name']} ({sets})" if sets else str(alias["name"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="descent", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"descent {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run one job spec here, no server",
        description="Run one job spec on this machine (no server) and print a summary: stop "
        "reason, steps, final loss and parameters. A progress bar is drawn on a terminal.",
    )
    run.add_argument("spec", metavar="SPEC.json", help="the job spec (a JSON file; - reads stdin)")
    run.add_argument("-o", "--output", metavar="OUT.json",
                     help="write the result document (trajectory, loss history, the spec) here")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_command_run)

    for name, handler, text in (
        ("functions", _command_functions, "the functions and models a spec can name"),
        ("optimizers", _command_optimizers,
         "the optimizers: default learning rate, hyperparameters and their defaults, aliases"),
    ):
        sub = commands.add_parser(name, help=text, description=f"List {text}.")
        sub.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
        sub.set_defaults(handler=handler)

    from cli import plot, service_commands, sweep_command

    sweep_command.register(commands)
    plot.register(commands)
    service_commands.register(commands)
    return parser


def _report(message: str, exit_code: int) -> int:
    print(f"descent: {message}".replace("\n", " "), file=sys.stderr)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args))
    except CommandError as error:
        return _report(str(error), error.exit_code)
    except KeyboardInterrupt:
        return _report("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:  # `descent functions | head`: the reader left, nothing to report
        # stdout is gone: point it at /dev/null so flushing it at exit raises nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # noqa: BLE001 - the last resort: one line, never a traceback
        return _report(f"internal error: {type(error).__name__}: {error}; please report it "
                       "with the command that caused it", EXIT_FAILED)


__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "build_parser", "format_summary", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
