"""The engine's one error hierarchy. Messages name the field and the value."""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


class SpecError(EngineError, ValueError):
    """A job spec (or a part of it) is invalid.

    ``field`` is the dotted path of the offending field (``"optimizer.betas"``), so the API can
    answer a 422 and the CLI exit 2 naming it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class ExpressionError(SpecError):
    """A user-typed formula is outside the grammar or over a size limit."""

    def __init__(self, message: str, field: str = "function.expression") -> None:
        super().__init__(field, message)


class SpecErrors(EngineError, ValueError):
    """Every problem found in one spec, each naming its field (one 422 entry each)."""

    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors

    def to_detail(self, prefix: tuple[str, ...] = ()) -> list[dict]:
        """FastAPI's ``detail`` list shape: ``loc``, ``msg``, ``type`` per problem."""
        return [
            {
                "loc": [*prefix, *(int(p) if p.isascii() and p.isdigit() and len(p) < 19 else p
                                   for p in e.field.split(".") if p)],
                "msg": e.message,
                "type": "value_error",
            }
            for e in self.errors
        ]
