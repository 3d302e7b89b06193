"""Run every lesson in ``examples/`` and draw its picture into ``docs/images/`` (``make tour``).

    python -m docs.make_tour            # every lesson
    python -m docs.make_tour 05 07      # only the lessons whose file names start so

Each picture is ``docs/images/<lesson file stem>.png`` (a palette PNG, well under 100 KB), and
each run's outcome is printed, so the numbers quoted in ``docs/tour.md`` can be checked. The
sweeps in ``examples/sweeps/`` are run too and drawn as final loss against learning rate into
``docs/images/sweep_<file stem>.png``, with each group's best rate printed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cli.plot import plot_rows, read_json, run_lesson
from cli.plot_sweep import plot_sweep
from docs.boundaries import plot_boundaries
from engine import dumps, loads
from engine.sweep import run_sweep_locally

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
IMAGES = ROOT / "docs" / "images"


def _summary(label: str, document: dict) -> str:
    final = document["final"]
    point = document.get("nearest_stationary_point") or {}
    nearest = f"  nearest {point['kind']} at {point['distance']:.2g}" if point else ""
    return (
        f"    {label:<48} {document['stop_reason']:<11} {document['steps']:>6} steps  "
        f"loss {final['loss']:.6g}{nearest}"
    )


def make_tour(prefixes: Sequence[str] = ()) -> list[Path]:
    """Run and draw the lessons (all, or those whose file names start with a prefix)."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(EXAMPLES.glob("*.json")):
        if prefixes and not any(path.stem.startswith(prefix) for prefix in prefixes):
            continue
        started = time.perf_counter()
        lesson = read_json(path)
        rows = run_lesson(lesson)
        # a lesson on two-feature classes (08_moons) draws each run's class regions
        draw = plot_boundaries if lesson.get("picture") == "decision boundaries" else plot_rows
        image = draw(rows, IMAGES / f"{path.stem}.png", title=lesson["lesson"])
        size = image.stat().st_size // 1024
        print(f"{lesson['lesson']}  ->  {image.relative_to(ROOT)} ({size} KB, "
              f"{time.perf_counter() - started:.1f} s)")
        for row in rows:
            print(f"  {row.title}")
            for curve in row.curves:
                print(_summary(curve.label, curve.document))
        written.append(image)
    for path in sorted((EXAMPLES / "sweeps").glob("*.json")):
        if prefixes and not any(f"sweep_{path.stem}".startswith(prefix) for prefix in prefixes):
            continue
        started = time.perf_counter()
        result = loads(dumps(run_sweep_locally(read_json(path))))
        image = plot_sweep(result, IMAGES / f"sweep_{path.stem}.png")
        print(f"{path.relative_to(ROOT)}  ->  {image.relative_to(ROOT)} "
              f"({image.stat().st_size // 1024} KB, {time.perf_counter() - started:.1f} s)")
        for entry in result.get("best", []):
            print(f"    best of {entry['key']}: learning rate {entry['learning_rate']}, "
                  f"final loss {entry['final_loss']:.3g}")
        written.append(image)
    return written


if __name__ == "__main__":
    make_tour(sys.argv[1:])
