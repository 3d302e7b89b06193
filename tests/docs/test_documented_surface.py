"""Every command and request README.md and docs/*.md show, run as written (issue 10 §1).

Each fenced block is cut into commands (continuation lines, heredocs and multi-line quotes
joined). A command is run here by bash from a scratch directory (``.venv`` and ``examples``
linked in, the files the docs assume written), with ``localhost:8000`` pointed at the real stack
of tests/conftest.py and ``<id>`` (or the docs' sample id) replaced by the id the last POST
created; ``curl`` is the real curl, its ``-w`` reporting each answer's status. RUN gives each
one's expected statuses and words of output; ELSEWHERE names the test that runs a command this
file cannot (long-running servers); NOT_RUN says why a block is no command. A block in none of
them, or an entry whose block is gone, fails the suite.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.commands import ROOT, descent

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
INDEPENDENT = {"docs/tour.md"}  # its commands share no files or ids
SHELLS = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
HEREDOC = re.compile(r"<<-?'?(\w+)'?")
SERVE = "tests/e2e/test_serve.py::test_serve_restart_on_the_same_data_dir_keeps_jobs_and_results"
WORKER = ("tests/cli/test_service_commands.py::"
          "test_worker_with_and_without_options_runs_jobs_and_stops_on_ctrl_c")
# files the docs use without writing them (README's own heredoc replaces job.json: its function
# differs, so a heredoc that wrote nothing would show in `descent run`'s summary)
FILES = {
    "job.json": json.dumps({"function": "booth", "optimizer": "adam", "max_steps": 400}),
    "sweep.json": json.dumps({"base": {"function": "rosenbrock", "optimizer": "adam",
                                       "max_steps": 1000},
                              "grid": {"learning_rate": [0.0001, 0.001, 0.01, 0.1, 1.0]}}),
    "houses.csv": "rooms,area,price\n3,70,210\n4,95,290\n2,48,150\n5,120,380\n",
}


@dataclass(frozen=True)
class Block:
    doc: str
    text: str
    shell: bool

    @property
    def key(self) -> str:
        """The doc and the block's first line (for a document, its first line that says more
        than a brace), its comment and continuation dropped."""
        lines = self.text.splitlines()
        first = lines[0] if self.shell else next((x for x in lines if len(x.strip()) > 2), "")
        first = re.sub(r"\s+#\s.*$", "", first).rstrip(" \\")
        return f"{self.doc}: {first}"


def _complete(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return not text.rstrip("\n").endswith("\\")


def blocks(doc: Path) -> list[Block]:
    name, found = str(doc.relative_to(ROOT)), []
    for language, body in FENCE.findall(doc.read_text()):
        if language not in SHELLS:
            found.append(Block(name, body, False))
            continue
        pending, heredoc = "", ""
        for line in body.splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending += line + "\n"
            if heredoc:
                heredoc = "" if line.strip() == heredoc else heredoc
                if heredoc:
                    continue
            elif match := HEREDOC.search(line):
                heredoc = match.group(1)
                continue
            elif not _complete(pending):
                continue
            found.append(Block(name, pending, True))
            pending = ""
        assert not pending, f"{name}: unfinished command {pending!r}"
    return found


ALL = [block for doc in DOCS for block in blocks(doc)]

# the commands run here, in the docs' order, with the statuses curl must see (one per request,
# "a|b" for either) and words their output must hold
JOB = "localhost:8000/v1/jobs/4f9c2b7e0d1a4c8e9b3f5a6d7c8e9f01"
RUN: dict[str, tuple[str, tuple[str, ...]]] = {
    "README.md: curl -si localhost:8000/v1/jobs -H 'Content-Type: application/json'":
        ("202", ("HTTP/1.1 202 Accepted", "location: /v1/jobs/", '"status":"queued"')),
    "README.md: curl -s localhost:8000/v1/jobs/<id>": ("200", ('"status":', '"progress":')),
    "README.md: curl -s localhost:8000/v1/jobs/<id>/result": ("200|409", ()),
    "README.md: curl -s 'localhost:8000/v1/jobs/<id>/result?wait=30'":
        ("200", ('"trajectory":', '"loss":', '"steps":1000')),
    "README.md: cat > job.json <<'JSON'": ("", ()),
    "README.md: .venv/bin/descent run job.json -o result.json":
        ("", ("function      rosenbrock", "optimizer     adam  lr=0.05",
              "stop_reason   max_steps after 2000 steps", "final loss", "nearest       global")),
    "README.md: .venv/bin/descent functions":
        ("", ("name                 dims   description", "\nrosenbrock ", "\nhimmelblau ")),
    "README.md: .venv/bin/descent optimizers":
        ("", ("adam      lr=0.001", "betas=[0.9, 0.999]", "aliases: gd, momentum")),
    "docs/service.md: descent submit job.json --wait -o result.json":
        ("", ("function      booth", "stop_reason   max_steps after 400 steps")),
    "docs/service.md: curl -si localhost:8000/v1/jobs -H 'Content-Type: application/json'":
        ("202", ("HTTP/1.1 202 Accepted", "location: /v1/jobs/", '"status":"queued"',
                 '"max_steps":500', '"record_every":1')),
    f"docs/service.md: curl -s {JOB}": ("200", ('"status":', '"progress":')),
    f"docs/service.md: curl -sN {JOB}/events":
        ("200", ("event: progress", "event: status", '"status":"succeeded"')),
    f"docs/service.md: curl -s {JOB}/result": ("200|409", ()),
    f"docs/service.md: curl -s '{JOB}/result?wait=30'": ("200", ('"steps":500', '"trajectory":')),
    f"docs/service.md: curl -s '{JOB}/result?max_points=200&fields=params,loss'":
        ("200", ('"params":', '"loss":')),
    f"docs/service.md: curl -s -H 'Accept: text/csv' '{JOB}/result?max_points=3'":
        ("200", ("step,loss,grad_norm,lr,p0,p1\n0,",)),
    "docs/service.md: curl -s -H 'Accept: application/vnd.apache.arrow.stream' -o result.arrow":
        ("200", ()),
    f"docs/service.md: curl -s -X DELETE {JOB}": ("204", ()),
    "docs/service.md: curl -s 'localhost:8000/v1/jobs?status=succeeded&limit=20'":
        ("200", ('"jobs":', '"next_cursor":')),
    "docs/service.md: curl -s 'localhost:8000/v1/jobs?limit=20&cursor=1234'": ("200", ('"jobs":',)),
    "docs/service.md: curl -s localhost:8000/v1/functions": ("200", ('"name":"himmelblau"',)),
    "docs/service.md: curl -s localhost:8000/v1/functions/himmelblau":
        ("200", ('"stationary_points":', '"kind":"saddle"')),
    "docs/service.md: curl -s 'localhost:8000/v1/functions/himmelblau/surface?resolution=100&x_min=-5&x_max=5'":
        ("200", ('"x":[-5.0,',)),
    "docs/service.md: curl -s localhost:8000/v1/surface -H 'Content-Type: application/json'":
        ("200", ('"x":', '"y":')),
    "docs/service.md: curl -s localhost:8000/v1/analyze -H 'Content-Type: application/json'":
        ("200", ('"points":[{"params":[0.0,0.0]',)),
    "docs/service.md: curl -s localhost:8000/v1/optimizers; curl -s localhost:8000/v1/schedules":
        ("200 200", ('"name":"adam"', '"name":"constant"')),
    "docs/service.md: curl -s localhost:8000/healthz; curl -s localhost:8000/readyz; curl -s localhost:8000/metrics":
        ("200 200 200", ('"status":"ok"', '"status":"ready"', "descent_jobs{")),
    "docs/service.md: curl -s localhost:8000/v1/jobs -H 'Content-Type: application/json'":
        ("422", ('"loc":["body","record_every"]', "80,240,016,048 B", "DESCENT_JOB_RECORD_BYTES",
                 "raise record_every to 299 or more")),
    "docs/service.md: curl -si localhost:8000/v1/sweeps -H 'Content-Type: application/json' -d '{":
        ("202", ("location: /v1/sweeps/", '"runs_total":5')),
    "docs/service.md: curl -s localhost:8000/v1/sweeps/<id>": ("200", ('"progress":', '"runs_total":5')),
    "docs/service.md: curl -sN localhost:8000/v1/sweeps/<id>/events":
        ("200", ("event: status", '"status":"succeeded"')),
    "docs/service.md: curl -s 'localhost:8000/v1/sweeps/<id>/result?runs=0,3&max_points=200'":
        ("200", ('"runs":[{"index":0,', '{"index":3,', '"table":', '"summary":')),
    "docs/service.md: curl -s -X DELETE localhost:8000/v1/sweeps/<id>": ("204", ()),
    "docs/service.md: descent sweep sweep.json -o out.json --trajectories all --max-points 500":
        ("", ("5 runs; best first:", "   1     3 ", "learning_rate=0.1\n")),
    "docs/service.md: curl -s 'localhost:8000/v1/datasets?target=price' -H 'Content-Type: text/csv' --data-binary @houses.csv":
        ("201", ('"columns":["rooms","area"]', '"target":"price"')),
    "docs/service.md: curl -s localhost:8000/v1/datasets -F file=@houses.csv": ("201", ('"n_samples":4',)),
    """docs/service.md: curl -s localhost:8000/v1/datasets -H 'Content-Type: application/json' -d '{"X": [[1, 2]], "y": [3]}'""":
        ("201", ('"n_samples":1', '"n_features":2')),
    "docs/service.md: curl -s localhost:8000/v1/datasets/<id>; curl -s -X DELETE localhost:8000/v1/datasets/<id>":
        ("200 204", ('"n_samples":1',)),
    "docs/tour.md: .venv/bin/descent sweep examples/sweeps/learning_rate.json --plot sweep.png":
        ("", ("39 runs; best first:", "wrote sweep.png")),
    **{f"docs/tour.md: .venv/bin/descent plot examples/{lesson}.json -o {out}": ("", (f"wrote {out}",))
       for lesson, out in (("01_learning_rate", "lesson.png"), ("01_learning_rate", "01.png"),
                           ("02_batching", "02.png"), ("03_many_parameters", "03.png"),
                           ("04_analytic_vs_numerical", "04.png"),
                           ("05_local_vs_global", "05.png"), ("06_saddle", "06.png"),
                           ("07_momentum", "07.png"), ("08_moons", "08.png"),
                           ("09_newton", "09.png"))},
}
# Python blocks: each doc's run in order as one script (a notebook), with words its output holds
PYTHON: dict[str, tuple[str, ...]] = {
    "README.md: import descent": ("(", ", 2)"),
    "docs/python.md: import descent": ("max_steps 2000", "(2001, 2)"),
    'docs/python.md: client = descent.Client("http://localhost:8000")':
        ("gd        final loss", "momentum  final loss", "adam      final loss"),
    "docs/python.md: import matplotlib": ("wrote race.png",),
    'docs/python.md: sweep = client.sweep({"base": {"function": "rosenbrock", "optimizer": "adam", "max_steps": 500},':
        ("best run ", "w, b = [2. 1.]", "[['body', 'optimizer']]"),
}
# JSON request bodies the docs show on their own, and where they are POSTed
POSTED: dict[str, str] = {
    'docs/spec.md: {"function": "rosenbrock", "optimizer": "adamw", "learning_rate": 0.01, "max_steps": 1000,':
        "/v1/jobs",
    'docs/spec.md: {"function": "rosenbrock", "max_steps": 20, "learning_rate": 1,': "/v1/jobs",
}
ELSEWHERE = {
    "README.md: make serve": SERVE,
    "docs/service.md: make serve": SERVE,
    "docs/service.md: DESCENT_REDIS_URL=redis://host:6379/0 descent worker": WORKER,
}
NOT_RUN = {
    "README.md: make test": "the whole suite, this file included",
    'docs/spec.md: { "stop_reason": "max_steps|max_epochs|grad_tol|target_loss|diverged|cancelled",':
        "the shape of a result document ([...] elides arrays), not a request",
}


def test_every_block_is_run_here_or_elsewhere_or_is_no_command() -> None:
    keys = [block.key for block in ALL]
    assert len(keys) == len(set(keys)), "two blocks start alike: make their first lines differ"
    listed = [*RUN, *PYTHON, *POSTED, *ELSEWHERE, *NOT_RUN]
    assert len(listed) == len(set(listed)), "a block is in two of the lists"
    missing = [key for key in keys if key not in listed]
    assert not missing, ("documented, not tested (add to RUN, PYTHON, POSTED, ELSEWHERE or "
                         f"NOT_RUN): {missing}")
    stale = [key for key in listed if key not in keys]
    assert not stale, f"listed here but no longer in the docs: {stale}"


def _test_names(path: Path) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


@pytest.mark.parametrize("node_id", sorted(set(ELSEWHERE.values())))
def test_the_tests_named_elsewhere_exist(node_id: str) -> None:
    path, name = node_id.split("::")
    assert name.startswith("test_") and name in _test_names(ROOT / path), node_id


def test_every_subcommand_has_a_test() -> None:
    done = descent("--help")
    assert done.returncode == 0, done.stderr
    listing = done.stdout.split("COMMAND\n", 1)[1].split("\noptions:")[0]
    subcommands = re.findall(r"^    (\w+)", listing, re.MULTILINE)
    assert len(subcommands) > 1, listing
    sources = "".join(path.read_text() for folder in ("cli", "e2e")
                      for path in (ROOT / "tests" / folder).glob("test_*.py"))
    untested = [name for name in subcommands if f'"{name}"' not in sources
                and not any(f"descent {name} " in key for key in RUN)]
    assert not untested, f"descent subcommands no test runs: {untested}"


def _scratch(tmp_path: Path) -> Path:
    for name in (".venv", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "bin").mkdir()
    curl = tmp_path / "bin" / "curl"
    curl.write_text("#!/bin/sh\nexec /usr/bin/curl -w '\\n<<HTTP %{http_code}>>\\n' \"$@\"\n")
    curl.chmod(0o755)
    return tmp_path


def _bash(command: str, cwd: Path, environment: dict[str, str]) -> tuple[str, list[str]]:
    """Run ``command`` as a user's shell would; its stdout and the HTTP statuses curl saw."""
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=environment, text=True,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, f"{command}exit {done.returncode}: {done.stderr[-2000:]}"
    assert "Traceback" not in done.stdout + done.stderr, f"{command}{done.stderr[-2000:]}"
    return done.stdout, re.findall(r"<<HTTP (\d+)>>", done.stdout)


def _as_run(block: Block, api_url: str) -> str:
    """The command pointed at the test's stack; the docs' sample job id is an ``<id>`` too."""
    command = re.sub(r"(/v1/\w+/)[0-9a-f]{32}", r"\1<id>", block.text)
    return command.replace("localhost:8000", api_url.removeprefix("http://"))


@pytest.mark.parametrize("doc", [str(doc.relative_to(ROOT)) for doc in DOCS])
def test_the_documented_commands_work_as_written(doc: str, api_url: str, tmp_path: Path) -> None:
    cwd = _scratch(tmp_path)
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("DESCENT_")}
    environment.update(DESCENT_URL=api_url,
                       PATH=f"{cwd / 'bin'}:{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    last_id = ""  # what the docs' <id> stands for: the job, sweep or dataset made last
    todo = [block for block in ALL if block.doc == doc]
    with ThreadPoolExecutor(2) as pool:  # commands of an INDEPENDENT doc: two at a time
        early = {block.key: pool.submit(_bash, _as_run(block, api_url), cwd, environment)
                 for block in todo if doc in INDEPENDENT and block.key in RUN}
        for block in todo:
            if block.key in POSTED:
                answer = httpx.post(api_url + POSTED[block.key], content=block.text, timeout=60,
                                    headers={"Content-Type": "application/json"})
                assert answer.is_success, (block.key, answer.status_code, answer.text)
            if block.key not in RUN:
                continue
            command = _as_run(block, api_url)
            output, codes = (early[block.key].result() if block.key in early
                             else _bash(command.replace("<id>", last_id), cwd, environment))
            statuses, words = RUN[block.key]
            shown = f"{block.key}\n{output[:3000]}"
            assert len(codes) == len(statuses.split()), (codes, shown)
            for code, allowed in zip(codes, statuses.split(), strict=True):
                assert code in allowed.split("|"), (code, shown)
            for word in words:
                assert word in output, (word, shown)
            if {"201", "202"} & set(codes):
                last_id = re.findall(r'"id":"(\w+)"', output)[-1]
            for written in re.findall(r"\s(?:-o|--output) (\S+)", command):
                assert (cwd / written).stat().st_size > 0, (written, block.key)


@pytest.mark.parametrize("doc", sorted({key.split(":")[0] for key in PYTHON}))
def test_the_documented_python_runs_as_written(doc: str, api_url: str, tmp_path: Path) -> None:
    """A doc's Python blocks, in order, as one script against the test's stack."""
    code = "\n".join(block.text for block in ALL if block.doc == doc and block.key in PYTHON)
    script = tmp_path / "walkthrough.py"
    script.write_text(code.replace("http://localhost:8000", api_url))
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("DESCENT_")}
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(script)], cwd=tmp_path,
                          env={**environment, "MPLBACKEND": "Agg"}, text=True,
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    for key, words in PYTHON.items():
        for word in words if key.startswith(doc) else ():
            assert word in done.stdout, (key, word, done.stdout[-3000:])
