"""``descent submit SPEC.json [--url URL] [--wait] [-o OUT.json]`` (docs/spec.md §10): send a job
spec to a server, follow its progress, fetch the result, through ``descent.Client`` (the one
HTTP code path; ``descent sweep --url`` uses it too).

Every way the server can fail the user is one line: unreachable or silent (exit 1), an error
answer (4xx: exit 2, the request was bad; 429 and 5xx: exit 1, try again later), a failed or
cancelled job (exit 1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from cli.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandError,
    check_output_path,
    read_json_object,
    write_output,
)

if TYPE_CHECKING:
    import descent


@contextmanager
def connected(args: argparse.Namespace, refused: str) -> Iterator[descent.Client]:
    """A client for ``--url`` / ``--api-key``; whatever the server answers wrong becomes one
    line (a 422 after ``refused``, which names the input file), naming the server. No
    retries: a person is waiting."""
    import descent

    url = args.url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CommandError(f"--url {args.url}: not an http:// or https:// address")
    try:
        with descent.Client(url, api_key=args.api_key or "", retries=0) as client:
            yield client
    except descent.SpecError as error:
        raise CommandError(f"{refused}: {descent.errors.describe(error.detail)}") from None
    except descent.WaitTimeout as error:
        raise CommandError(f"gave up waiting: {error} (at {url})", EXIT_FAILED) from None
    except descent.DescentError as error:
        if error.status == 0:
            raise CommandError(f"cannot reach {url}: no answer (is `descent serve` running "
                               "there?)", EXIT_FAILED) from None
        retry_later = error.status >= 500 or error.status == 429
        raise CommandError(f"{url} answered {error}",
                           EXIT_FAILED if retry_later else EXIT_BAD_INPUT) from None


def command_submit(args: argparse.Namespace) -> int:
    spec = read_json_object(args.spec, "a job spec")
    check_output_path(args.output)
    with connected(args, f"{args.spec}: the server refused the spec") as client:
        return _submit(client, spec, args)


def _submit(client: descent.Client, spec: dict[str, Any], args: argparse.Namespace) -> int:
    import descent
    from cli.main import format_summary

    job = client.submit(spec)
    where = f"{client.setup.url}{job.path}"
    if not (args.wait or args.output):
        print(job.id)
        return EXIT_OK
    try:
        if sys.stderr.isatty():  # for the person watching, in one write (Ctrl-C may follow)
            sys.stderr.write(f"job {job.id} {job.status} ({where})\n")
            sys.stderr.flush()
        _follow(job, args.timeout)
    except KeyboardInterrupt:
        raise CommandError(f"interrupted; job {job.id} goes on at {where}",
                           EXIT_INTERRUPTED) from None
    except descent.WaitTimeout:
        raise CommandError(f"gave up waiting after {args.timeout:g} s: job {job.id} is still "
                           f"{job.refresh().status} at {where}", EXIT_FAILED) from None
    try:
        document = client.run(client.calls.get(f"{job.path}/result"))
    except descent.Conflict:  # it ended without a result
        document = None
    if document is not None:
        if args.output:
            from engine import dumps

            write_output(args.output, dumps(document))
        print(format_summary(document, job.document["spec"]))
    if job.status == "succeeded":
        return EXIT_OK
    error = job.document.get("error") or {}
    reason = f": {error.get('message')}" if error.get("message") else ""
    raise CommandError(f"job {job.id} {job.status}{reason}", EXIT_FAILED)


def _follow(job: descent.Job, timeout: float | None) -> None:
    """Wait for the job to end: on a terminal, drawing its progress from the server-sent
    events; elsewhere, with ``?wait=``."""
    from cli.progress import ProgressBar

    if sys.stderr.isatty() and timeout is None:
        bar = ProgressBar(enabled=True)
        try:
            for event in job.events():
                if event["event"] == "progress":
                    bar.update(SimpleNamespace(**event["data"]))
        finally:
            bar.close()
    job.wait(timeout)
