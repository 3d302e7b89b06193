"""The Redis job store: job records, progress, cancellation flags, results, liveness and the
numbers behind ``/metrics``. All keys are under ``descent:``; each module says which it owns:

- ``keys`` — the names (prefix, statuses, key of each thing), errors and small helpers;
- ``scripts`` — every state transition as one Lua script (atomic: a cancel and a claim can
  never both win; one Idempotency-Key never makes two jobs);
- ``jobs`` — ``JobStore``: records, lists, cancel, delete, claim, progress, finish;
- ``results`` — the stored trajectory (raw rows, stored once) and reading it back;
- ``liveness`` — worker heartbeats;
- ``metrics`` — status counts and the run-time histogram.
"""

from worker.store.jobs import DEFAULT_TTL_S, JobStore, Progress
from worker.store.keys import (
    ACTIVE,
    ANONYMOUS,
    FINISHED,
    PREFIX,
    STATUSES,
    IdempotencyConflict,
    JobNotFound,
    dataset_users_key,
    finished_channel,
    now_iso,
    owner_of,
)
from worker.store.metrics import RUNTIME_BUCKETS
from worker.store.results import GATHER_LIMIT, PIECE_BYTES, pack_trajectory, row_dtype

__all__ = [
    "ACTIVE", "ANONYMOUS", "DEFAULT_TTL_S", "FINISHED", "GATHER_LIMIT", "PIECE_BYTES", "PREFIX",
    "RUNTIME_BUCKETS", "STATUSES", "IdempotencyConflict", "JobNotFound", "JobStore", "Progress",
    "dataset_users_key", "finished_channel", "now_iso", "owner_of", "pack_trajectory",
    "row_dtype",
]
