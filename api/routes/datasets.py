"""Datasets (SPEC.md §9.2): upload CSV or JSON ``{X, y}``, read, delete. Jobs and sweeps use
one as ``"data": {"dataset_id": "…"}``."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from api.deps import AppSettings, Owner, Store
from api.errors import ApiError
from api.responses import JSONResponse
from api.schemas import Problem
from worker.datasets import (
    DatasetError,
    DatasetInUse,
    DatasetNotFound,
    DatasetStore,
    parse_csv,
    parse_json,
)

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

_errors: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such dataset (or not yours, or expired)."},
    401: {"model": Problem, "description": "API key missing or wrong."}}
CSV_EXAMPLE = "x1,x2,y\n0.5,1.0,2.1\n1.5,-0.5,0.3\n"


class DatasetDocument(BaseModel):
    """An uploaded dataset. ``columns`` are the feature columns in order; ``target`` the label."""

    id: str
    n_samples: int
    n_features: int
    columns: list[str]
    target: str
    created_at: str
    expires_at: str


def _datasets(store: Any, settings: Any) -> DatasetStore:
    return DatasetStore(store.redis, settings.job_ttl_s)


def _unprocessable(error: DatasetError, where: str) -> ApiError:
    location = ["query", "target"] if error.field == "target" else [where, error.field]
    return ApiError(422, [{"loc": location, "msg": error.message, "type": "value_error"}])


@router.post(
    "", status_code=201, response_model=None,
    openapi_extra={"requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}}}},
        "application/json": {"schema": {"type": "object", "required": ["X", "y"], "properties": {
            "X": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "y": {"type": "array", "items": {"type": "number"}}}},
            "example": {"X": [[0.5, 1.0], [1.5, -0.5]], "y": [2.1, 0.3]}},
    }}},
    responses={201: {"model": DatasetDocument, "description": "Stored; Location names it."},
               413: {"model": Problem, "description": "Over the dataset size limit."},
               415: {"model": Problem, "description": "Not CSV, multipart or JSON."},
               422: {"model": Problem, "description": "Empty, ragged, non-numeric, NaN/inf, or "
                     "an unknown target column: the message names the row and column."},
               **_errors},
    summary="Upload a dataset",
)
async def upload_dataset(
    request: Request, store: Store, settings: AppSettings, owner: Owner,
    target: Annotated[str | None, Query(max_length=200, description="CSV: the label column "
                                        "(default: the last column).")] = None,
) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    limit = settings.max_dataset_bytes
    too_large = f"the dataset is over this server's limit of {limit} bytes (DESCENT_MAX_DATASET_BYTES)"
    where = "body"
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, [{"loc": ["body", "file"], "type": "missing",
                                  "msg": "send the CSV as the multipart file field 'file'"}])
        data = await upload.read(limit + 1)
        await form.close()
        where = "file"
    else:
        data = await request.body()
    if len(data) > limit:
        raise ApiError(413, too_large)
    max_rows = settings.max_dataset_rows
    try:
        if content_type in ("text/csv", "multipart/form-data", "text/plain"):
            X, y, columns, target_name = await anyio.to_thread.run_sync(
                lambda: parse_csv(data, target, max_rows=max_rows))
        elif content_type == "application/json":
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError as error:
                raise ApiError(422, [{"loc": ["body"], "type": "json_invalid",
                                      "msg": f"not valid JSON: {error}"}]) from None
            X, y, columns, target_name = await anyio.to_thread.run_sync(
                lambda: parse_json(payload, max_rows=max_rows))
        else:
            raise ApiError(415, f"send text/csv, multipart/form-data (field 'file') or "
                           f"application/json {{X, y}}, not '{content_type or 'nothing'}'")
    except DatasetError as error:
        raise _unprocessable(error, where) from None
    document = await anyio.to_thread.run_sync(
        lambda: _datasets(store, settings).create(X, y, columns, target_name, owner=owner))
    return JSONResponse(document, status_code=201,
                        headers={"Location": f"/v1/datasets/{document['id']}"})


@router.get("/{dataset_id}", response_model=None,
            responses={200: {"model": DatasetDocument}, **_errors}, summary="Read a dataset")
def get_dataset(dataset_id: str, store: Store, settings: AppSettings, owner: Owner) -> Response:
    try:
        return JSONResponse(_datasets(store, settings).get(dataset_id, owner))
    except DatasetNotFound:
        raise ApiError(404, f"no dataset {dataset_id}") from None


@router.delete("/{dataset_id}", status_code=204, response_model=None,
               responses={204: {"description": "Deleted for good."},
                          409: {"model": Problem, "description": "A queued or running job or "
                                "sweep uses it (they are named); it is kept until they end."},
                          **_errors},
               summary="Delete a dataset")
def delete_dataset(dataset_id: str, store: Store, settings: AppSettings, owner: Owner) -> Response:
    try:
        _datasets(store, settings).delete(dataset_id, owner)
    except DatasetNotFound:
        raise ApiError(404, f"no dataset {dataset_id}") from None
    except DatasetInUse as in_use:
        users = [f"job{'s' if len(in_use.jobs) > 1 else ''} {', '.join(in_use.jobs)}"
                 if in_use.jobs else "",
                 f"sweep{'s' if len(in_use.sweeps) > 1 else ''} {', '.join(in_use.sweeps)}"
                 if in_use.sweeps else ""]
        raise ApiError(409, f"dataset {dataset_id} is in use by queued or running "
                       f"{' and '.join(user for user in users if user)}; it can be deleted "
                       "when they end (or cancel them first)") from None
    return Response(status_code=204)
