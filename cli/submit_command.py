"""``descent submit SPEC.json [--url URL] [--wait] [-o OUT.json]`` (docs/spec.md §10): send a job
spec to a server, follow its progress, fetch the result.

Every way the server can fail the user is one line: unreachable or silent (exit 1), an error
answer (4xx: exit 2, the request was bad; 429 and 5xx: exit 1, try again later), an answer that
is not the descent API's (exit 1), a failed or cancelled job (exit 1).
"""

from __future__ import annotations

import argparse
import sys
import time
from types import SimpleNamespace
from typing import Any

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

REQUEST_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.2


def _problem(response: Any) -> str:
    """What an error answer says (``application/problem+json``: its detail, one entry per bad
    field for a 422), on one line."""
    try:
        body = response.json()
    except ValueError:
        return f"not the descent API's answer ({response.headers.get('content-type')})"
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(part) for part in entry.get('loc', [])[1:]) or '(spec)'}: "
            f"{entry.get('msg')}" if isinstance(entry, dict) else str(entry)
            for entry in detail
        )
    return str(detail)


def _checked(response: Any) -> dict[str, Any]:
    """The JSON object of a successful answer, else a ``CommandError`` saying what the server
    answered to which request."""
    request = f"{response.request.method} {response.request.url}"
    if response.status_code >= 400:
        retry_later = response.status_code >= 500 or response.status_code == 429
        raise CommandError(
            f"{request} answered {response.status_code} {response.reason_phrase}: "
            f"{_problem(response)}", EXIT_FAILED if retry_later else EXIT_BAD_INPUT,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CommandError(f"{request} did not answer like a descent server "
                           f"({response.status_code}, {response.headers.get('content-type')})",
                           EXIT_FAILED)
    return body


def command_submit(args: argparse.Namespace) -> int:
    import httpx

    spec = read_json_object(args.spec, "a job spec")
    check_output_path(args.output)
    url = args.url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CommandError(f"--url {args.url}: not an http:// or https:// address")
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
            return _submit(client, url, spec, args)
    except httpx.TimeoutException:
        raise CommandError(f"no answer from {url} within {REQUEST_TIMEOUT_S:g} s",
                           EXIT_FAILED) from None
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        raise CommandError(f"cannot reach {url}: {reason} (is `descent serve` running there?)",
                           EXIT_FAILED) from None


def _submit(client: Any, url: str, spec: dict[str, Any], args: argparse.Namespace) -> int:
    from cli.main import format_summary

    response = client.post("/v1/jobs", json=spec)
    if response.status_code == 422:
        raise CommandError(f"{args.spec}: the server refused the spec: {_problem(response)}")
    job = _checked(response)
    location = response.headers.get("Location", f"/v1/jobs/{job.get('id')}")
    if sys.stderr.isatty():  # for the person watching; a script has the id on stdout
        print(f"job {job.get('id')} {job.get('status')} ({url}{location})", file=sys.stderr)
    if not (args.wait or args.output):
        print(job.get("id"))
        return EXIT_OK
    try:
        job = _follow(client, job, location, args.timeout)
    except KeyboardInterrupt:
        raise CommandError(f"interrupted; job {job.get('id')} goes on at {url}{location}",
                           EXIT_INTERRUPTED) from None
    result = client.get(f"{location}/result")
    if result.status_code == 200:
        if args.output:
            write_output(args.output, result.content)
        print(format_summary(_checked(result), job["spec"]))
    if job["status"] == "succeeded":
        return EXIT_OK
    error = job.get("error") or {}
    reason = f": {error.get('message')}" if error.get("message") else ""
    raise CommandError(f"job {job['id']} {job['status']}{reason}", EXIT_FAILED)


def _follow(client: Any, job: dict[str, Any], location: str, timeout: float | None) -> Any:
    """Poll the job until it ends, drawing its progress on a terminal."""
    from cli.progress import ProgressBar

    bar = ProgressBar(enabled=sys.stderr.isatty())
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while job["status"] in ("queued", "running"):
            if deadline is not None and time.monotonic() > deadline:
                raise CommandError(f"gave up waiting after {timeout:g} s: job {job['id']} is "
                                   f"still {job['status']} at {client.base_url}{location}",
                                   EXIT_FAILED)
            time.sleep(POLL_INTERVAL_S)
            job = _checked(client.get(location))
            bar.update(SimpleNamespace(**job["progress"]))
    finally:
        bar.close()
    return job
