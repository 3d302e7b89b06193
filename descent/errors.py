"""One exception hierarchy for everything ``import descent`` does (docs/spec.md §12).

    DescentError                 anything the service (or a local run) refused or could not do
    ├── SpecError                a 422: ``fields`` lists each problem as {"loc", "msg", "type"}
    ├── Unauthorized             a 401: no API key, or a wrong one
    ├── NotFound                 a 404
    ├── Conflict                 a 409 (a result asked for before the job finished, a dataset
    │                            in use, ...)
    ├── RateLimited              a 429 that outlasted the retries; ``retry_after`` in seconds
    └── ServiceUnavailable       a 503 (or no answer at all) that outlasted the retries
"""

from __future__ import annotations

from typing import Any


class DescentError(Exception):
    """``status`` is the HTTP status (0 when there was no answer); ``detail`` the problem's."""

    def __init__(self, message: str, *, status: int = 0, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class SpecError(DescentError):
    """A spec (or a query) the service refused: ``fields`` has one entry per problem."""

    def __init__(self, message: str, *, status: int = 422, detail: Any = None) -> None:
        super().__init__(message, status=status, detail=detail)
        self.fields: list[dict[str, Any]] = detail if isinstance(detail, list) else []


class Unauthorized(DescentError):
    pass


class NotFound(DescentError):
    pass


class Conflict(DescentError):
    pass


class RateLimited(DescentError):
    def __init__(self, message: str, *, status: int = 429, detail: Any = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, detail=detail)
        self.retry_after = retry_after


class ServiceUnavailable(DescentError):
    pass


_BY_STATUS: dict[int, type[DescentError]] = {
    401: Unauthorized, 404: NotFound, 409: Conflict, 422: SpecError, 429: RateLimited,
    503: ServiceUnavailable,
}


def describe(detail: Any) -> str:
    """A problem's detail as one line: a 422's entries as ``field: message; …``."""
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(part) for part in entry.get('loc', [])[1:]) or 'body'}: "
            f"{entry.get('msg')}" if isinstance(entry, dict) else str(entry)
            for entry in detail)
    return str(detail)


def error_for(status: int, detail: Any, retry_after: float | None = None) -> DescentError:
    """The exception for an error answer."""
    kind = _BY_STATUS.get(status, DescentError)
    message = f"{status}: {describe(detail)}"
    if kind is RateLimited:
        return RateLimited(message, detail=detail, retry_after=retry_after)
    if kind is DescentError:
        return DescentError(message, status=status, detail=detail)
    return kind(message, status=status, detail=detail)
