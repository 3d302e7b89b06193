"""``descent.Client`` and ``descent.AsyncClient``: the service over HTTP (docs/spec.md §12).

Each call is written once, as a generator that yields what to do (an ``httpx.Request`` to
send, or a number of seconds to sleep) and is sent back the answer; ``Client`` drives it with
httpx's blocking client and ``AsyncClient`` with its async one, so both behave the same:

- a 429 or a 503 (or no answer at all) is retried with exponential backoff that honours
  ``Retry-After``, up to ``retries`` times, then raised (``RateLimited``,
  ``ServiceUnavailable``);
- every submission carries an ``Idempotency-Key``, so a retried POST never makes two jobs;
- results are fetched as Arrow (docs/spec.md §8.1) into NumPy arrays, waiting with
  ``?wait=`` (one request while the job runs, not a polling loop).

>>> import descent
>>> with descent.Client("http://127.0.0.1:8000") as client:        # doctest: +SKIP
...     job = client.submit({"function": "rosenbrock", "optimizer": "adam",
...                          "learning_rate": 0.05, "max_steps": 500})
...     result = job.result(timeout=60)
...     result.final["loss"], result.trajectory.params.shape
(2.1e-05, (501, 2))
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

import anyio
import httpx

from descent.errors import DescentError, ServiceUnavailable, error_for
from descent.results import Result, result_from_arrow

ARROW = "application/vnd.apache.arrow.stream"
MAX_WAIT_S = 60.0  # the longest ?wait= the service takes
UNFINISHED = ("queued", "running")
T = TypeVar("T")
Call = Generator["httpx.Request | float", "httpx.Response | None", T]


class WaitTimeout(DescentError, TimeoutError):
    """``timeout`` passed before the job or sweep finished (it goes on running)."""


@dataclass
class _Setup:
    url: str
    retries: int
    backoff_s: float
    headers: dict[str, str]


def _setup(url: str, api_key: str | None, retries: int, backoff_s: float) -> _Setup:
    key = api_key if api_key is not None else os.environ.get("DESCENT_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return _Setup(url.rstrip("/"), retries, backoff_s, headers)


def _retry_after(response: httpx.Response | None) -> float | None:
    value = None if response is None else response.headers.get("Retry-After")
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def _delay(setup: _Setup, response: httpx.Response | None, attempt: int) -> float | None:
    """Seconds to wait before trying again, or None to stop: no answer, 429 and 503 are
    retried (``Retry-After`` when given, else 0.5 s, 1 s, 2 s, ... capped at 30 s)."""
    if response is not None and response.status_code not in (429, 503):
        return None
    if attempt >= setup.retries:
        return None
    given = _retry_after(response)
    return given if given is not None else min(30.0, setup.backoff_s * 2 ** attempt)


def _problem(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        return response.text or response.reason_phrase


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    raise error_for(response.status_code, _problem(response), _retry_after(response))


def _json(response: httpx.Response) -> Any:
    return _checked(response).json()


class _Calls:
    """The service's calls, each a generator of requests (no I/O here)."""

    def __init__(self, setup: _Setup, http: httpx.Client | httpx.AsyncClient) -> None:
        self.setup, self.http = setup, http

    def request(self, method: str, path: str, *, wait: float = 0.0, **kwargs: Any
                ) -> httpx.Request:
        headers = {**self.setup.headers, **kwargs.pop("headers", {})}
        timeout = httpx.Timeout(30.0 + wait)
        return self.http.build_request(method, self.setup.url + path, headers=headers,
                                       timeout=timeout, **kwargs)

    def sent(self, request: httpx.Request) -> Call[httpx.Response]:
        """``request`` answered: a 429 or 503, or no answer (the driver sends None), is tried
        again after ``_delay``, until the retries run out."""
        attempt = 0
        while True:
            response = yield request
            delay = _delay(self.setup, response, attempt)
            if delay is None:
                if response is None:
                    raise ServiceUnavailable(f"no answer from {self.setup.url}")
                return response
            yield delay
            attempt += 1

    def get(self, path: str, **params: Any) -> Call[Any]:
        response = yield from self.sent(self.request("GET", path, params=params))
        return _json(response)

    def submit(self, path: str, body: Any, idempotency_key: str | None) -> Call[Any]:
        key = idempotency_key or uuid.uuid4().hex
        response = yield from self.sent(self.request("POST", path, json=body,
                                                     headers={"Idempotency-Key": key}))
        return _json(response)

    def delete(self, path: str) -> Call[dict[str, Any] | None]:
        response = yield from self.sent(self.request("DELETE", path))
        return None if _checked(response).status_code == 204 else response.json()

    def cancel(self, path: str) -> Call[dict[str, Any]]:
        """Cancel if still unfinished (a DELETE on a finished one would delete it)."""
        document = yield from self.get(path)
        if document["status"] in UNFINISHED:
            cancelled = yield from self.delete(path)
            document = cancelled or document
        return dict(document)

    def wait(self, path: str, timeout: float | None) -> Call[dict[str, Any]]:
        """Wait for a job or sweep to end: its document once it has (``WaitTimeout`` after
        ``timeout`` s). A job waits with ``?wait=`` on its result (a request while it runs);
        a sweep is read again with backoff up to a second."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.05
        while True:
            left = MAX_WAIT_S if deadline is None else deadline - time.monotonic()
            wait = max(0.0, min(MAX_WAIT_S, left))
            if path.startswith("/v1/jobs/") and wait > 0:
                response = yield from self.sent(self.request(
                    "GET", f"{path}/result", wait=wait,
                    params={"wait": round(wait, 3), "max_points": 2, "fields": "loss"}))
                if response.status_code not in (200, 409):
                    _checked(response)
            document = yield from self.get(path)
            if document["status"] not in UNFINISHED:
                return dict(document)
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"{path.split('/')[2][:-1]} {document['id']} is still "
                                  f"{document['status']} after {timeout:g} s")
            if not path.startswith("/v1/jobs/"):
                yield min(pause, max(0.0, left))
                pause = min(1.0, pause * 2)

    def job_result(self, job_id: str, timeout: float | None, query: dict[str, Any]
                   ) -> Call[Result]:
        deadline = None if timeout is None else time.monotonic() + timeout
        params = {name: value for name, value in query.items() if value is not None}
        while True:
            left = MAX_WAIT_S if deadline is None else deadline - time.monotonic()
            wait = max(0.0, min(MAX_WAIT_S, left))
            response = yield from self.sent(self.request(
                "GET", f"/v1/jobs/{job_id}/result", wait=wait,
                params={**params, "wait": round(wait, 3)}, headers={"Accept": ARROW}))
            if response.status_code != 409:
                return result_from_arrow(_checked(response).content)
            job = yield from self.get(f"/v1/jobs/{job_id}")
            if job["status"] not in UNFINISHED:
                _checked(response)  # finished without a result: Conflict, with the reason
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"job {job_id} is still {job['status']} after {timeout:g} s")

    def sweep_result(self, sweep_id: str, timeout: float | None, query: dict[str, Any]
                     ) -> Call[dict[str, Any]]:
        yield from self.wait(f"/v1/sweeps/{sweep_id}", timeout)
        params = {name: value for name, value in query.items() if value is not None}
        document = yield from self.get(f"/v1/sweeps/{sweep_id}/result", **params)
        return dict(document)

    def upload(self, data: Any, y: Any, target: str | None) -> Call[Any]:
        params = {"target": target} if target else {}
        if isinstance(data, (str, Path)):
            content: bytes | None = Path(data).read_bytes()
        elif hasattr(data, "to_csv"):  # a pandas DataFrame
            content = data.to_csv(index=False).encode()
        else:
            content = None
        if content is not None:
            request = self.request("POST", "/v1/datasets", params=params, content=content,
                                   headers={"Content-Type": "text/csv"})
        else:
            body = {"X": _plain(data), "y": _plain(y)}
            request = self.request("POST", "/v1/datasets", json=body)
        response = yield from self.sent(request)
        return _json(response)


def _plain(values: Any) -> Any:
    return values.tolist() if hasattr(values, "tolist") else values


class SseParser:
    """Server-sent events from lines: ``feed`` returns ``{"event", "data"}`` at each blank
    line that ends an event (data parsed as JSON when it is JSON)."""

    def __init__(self) -> None:
        self.event, self.data = "message", list[str]()

    def feed(self, line: str) -> dict[str, Any] | None:
        if line == "":
            if not self.data:
                return None
            text = "\n".join(self.data)
            try:
                data = json.loads(text)
            except ValueError:
                data = text
            event, self.event, self.data = {"event": self.event, "data": data}, "message", []
            return event
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None


class _Base:
    """What both clients hold: the URL, key and retry policy, and the calls."""

    def __init__(self, url: str, api_key: str | None, retries: int, backoff_s: float,
                 http: httpx.Client | httpx.AsyncClient) -> None:
        self.setup = _setup(url, api_key, retries, backoff_s)
        self.calls = _Calls(self.setup, http)

    def _events_request(self, path: str) -> dict[str, Any]:
        return {"method": "GET", "url": self.setup.url + path, "headers": self.setup.headers,
                "timeout": httpx.Timeout(30.0, read=None)}


# --- the blocking client


class Client(_Base):
    """The service at ``url``, over httpx. ``api_key`` defaults to ``$DESCENT_API_KEY``.

    >>> client = descent.Client("http://127.0.0.1:8000")          # doctest: +SKIP
    >>> job = client.submit({"function": "himmelblau", "optimizer": "momentum"})
    >>> job.result().stop_reason
    'max_steps'
    """

    def __init__(self, url: str = "http://127.0.0.1:8000", api_key: str | None = None, *,
                 retries: int = 5, backoff_s: float = 0.5) -> None:
        self.http = httpx.Client()
        super().__init__(url, api_key, retries, backoff_s, self.http)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _send(self, request: httpx.Request) -> httpx.Response | None:
        try:
            return self.http.send(request)
        except httpx.TransportError:
            return None

    def run(self, call: Call[T]) -> T:
        """Drive one call to its end."""
        try:
            step = next(call)
            while True:
                if isinstance(step, httpx.Request):
                    step = call.send(self._send(step))
                else:
                    time.sleep(step)
                    step = call.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def submit(self, spec: dict[str, Any], *, idempotency_key: str | None = None) -> Job:
        """Queue a job (docs/spec.md §2); ``SpecError`` lists every bad field."""
        return Job(self, self.run(self.calls.submit("/v1/jobs", spec, idempotency_key)))

    def job(self, job_id: str) -> Job:
        return Job(self, self.run(self.calls.get(f"/v1/jobs/{job_id}")))

    def sweep(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> Sweep:
        """Queue a sweep (docs/spec.md §9.1): ``{"base": spec, "grid": {...}}``."""
        return Sweep(self, self.run(self.calls.submit("/v1/sweeps", body, idempotency_key)))

    def upload(self, data: Any, y: Any = None, *, target: str | None = None) -> Dataset:
        """Upload a data set: arrays ``X`` and ``y``, a DataFrame or a CSV path (``target``
        names the label column; default the last)."""
        return Dataset(self.run(self.calls.upload(data, y, target)))

    def events(self, path: str) -> Iterator[dict[str, Any]]:
        """Server-sent events from ``path`` until the stream ends."""
        parser = SseParser()
        with self.http.stream(**self._events_request(path)) as response:
            if not response.is_success:
                response.read()
                _checked(response)
            for line in response.iter_lines():
                event = parser.feed(line)
                if event is not None:
                    yield event


class AsyncClient(_Base):
    """``Client`` for asyncio (or trio) code: the same calls, awaited.

    >>> async with descent.AsyncClient("http://127.0.0.1:8000") as client:   # doctest: +SKIP
    ...     job = await client.submit({"function": "booth", "optimizer": "adam"})
    ...     result = await job.result()
    """

    def __init__(self, url: str = "http://127.0.0.1:8000", api_key: str | None = None, *,
                 retries: int = 5, backoff_s: float = 0.5) -> None:
        self.http = httpx.AsyncClient()
        super().__init__(url, api_key, retries, backoff_s, self.http)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response | None:
        try:
            return await self.http.send(request)
        except httpx.TransportError:
            return None

    async def run(self, call: Call[T]) -> T:
        """Drive one call to its end."""
        try:
            step = next(call)
            while True:
                if isinstance(step, httpx.Request):
                    step = call.send(await self._send(step))
                else:
                    await anyio.sleep(step)
                    step = call.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def submit(self, spec: dict[str, Any], *,
                     idempotency_key: str | None = None) -> AsyncJob:
        return AsyncJob(self, await self.run(self.calls.submit("/v1/jobs", spec,
                                                               idempotency_key)))

    async def job(self, job_id: str) -> AsyncJob:
        return AsyncJob(self, await self.run(self.calls.get(f"/v1/jobs/{job_id}")))

    async def sweep(self, body: dict[str, Any], *,
                    idempotency_key: str | None = None) -> AsyncSweep:
        return AsyncSweep(self, await self.run(self.calls.submit("/v1/sweeps", body,
                                                                 idempotency_key)))

    async def upload(self, data: Any, y: Any = None, *, target: str | None = None) -> Dataset:
        return Dataset(await self.run(self.calls.upload(data, y, target)))

    async def events(self, path: str) -> AsyncIterator[dict[str, Any]]:
        parser = SseParser()
        async with self.http.stream(**self._events_request(path)) as response:
            if not response.is_success:
                await response.aread()
                _checked(response)
            async for line in response.aiter_lines():
                event = parser.feed(line)
                if event is not None:
                    yield event


# --- what a submission gives back


@dataclass
class Dataset:
    """An uploaded data set: use ``{"data": {"dataset_id": dataset.id}}`` in a spec."""

    document: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.document["id"])


class _Handle:
    """A submitted job or sweep: ``id``, ``status`` and ``document`` as last read."""

    kind = "jobs"

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    @property
    def id(self) -> str:
        return str(self.document["id"])

    @property
    def status(self) -> str:
        return str(self.document["status"])

    @property
    def path(self) -> str:
        return f"/v1/{self.kind}/{self.id}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.status}>"


class _Handled(_Handle):
    def __init__(self, client: Client, document: dict[str, Any]) -> None:
        super().__init__(document)
        self.client = client

    def refresh(self) -> _Handled:
        self.document = self.client.run(self.client.calls.get(self.path))
        return self

    def cancel(self) -> _Handled:
        """Stop it if it is still queued or running (a finished one is left as it is)."""
        self.document = self.client.run(self.client.calls.cancel(self.path))
        return self

    def delete(self) -> None:
        """Cancel it if unfinished; remove it and its results for good if finished."""
        self.client.run(self.client.calls.delete(self.path))

    def events(self) -> Iterator[dict[str, Any]]:
        """Server-sent ``status`` and ``progress`` events until it ends."""
        return self.client.events(f"{self.path}/events")

    def wait(self, timeout: float | None = None) -> _Handled:
        """Wait until it ends (at most ``timeout`` s, else ``WaitTimeout``); ``document`` is
        then the final one."""
        self.document = self.client.run(self.client.calls.wait(self.path, timeout))
        return self


class Job(_Handled):
    def result(self, timeout: float | None = None, *, max_points: int | None = None,
               every: int | None = None, fields: str | None = None) -> Result:
        """Wait for the job to finish (at most ``timeout`` s, else ``WaitTimeout``) and fetch
        its result; ``Conflict`` if it ended without one."""
        query = {"max_points": max_points, "every": every, "fields": fields}
        return self.client.run(self.client.calls.job_result(self.id, timeout, query))


class Sweep(_Handled):
    kind = "sweeps"

    def result(self, timeout: float | None = None, *, runs: str | None = None,
               max_points: int | None = None) -> dict[str, Any]:
        """Wait for the sweep to end and fetch its result document (``runs``: indices whose
        trajectories to add, e.g. ``"0,3"``)."""
        query = {"runs": runs, "max_points": max_points}
        return self.client.run(self.client.calls.sweep_result(self.id, timeout, query))


class _AsyncHandled(_Handle):
    def __init__(self, client: AsyncClient, document: dict[str, Any]) -> None:
        super().__init__(document)
        self.client = client

    async def refresh(self) -> _AsyncHandled:
        self.document = await self.client.run(self.client.calls.get(self.path))
        return self

    async def cancel(self) -> _AsyncHandled:
        self.document = await self.client.run(self.client.calls.cancel(self.path))
        return self

    async def delete(self) -> None:
        await self.client.run(self.client.calls.delete(self.path))

    def events(self) -> AsyncIterator[dict[str, Any]]:
        return self.client.events(f"{self.path}/events")

    async def wait(self, timeout: float | None = None) -> _AsyncHandled:
        self.document = await self.client.run(self.client.calls.wait(self.path, timeout))
        return self


class AsyncJob(_AsyncHandled):
    async def result(self, timeout: float | None = None, *, max_points: int | None = None,
                     every: int | None = None, fields: str | None = None) -> Result:
        query = {"max_points": max_points, "every": every, "fields": fields}
        return await self.client.run(self.client.calls.job_result(self.id, timeout, query))


class AsyncSweep(_AsyncHandled):
    kind = "sweeps"

    async def result(self, timeout: float | None = None, *, runs: str | None = None,
                     max_points: int | None = None) -> dict[str, Any]:
        query = {"runs": runs, "max_points": max_points}
        return await self.client.run(self.client.calls.sweep_result(self.id, timeout, query))
