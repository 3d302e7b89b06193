"""The service's settings (SPEC.md §11), read once from the environment (prefix ``DESCENT_``).

Every process of the service (API, Celery worker, ``descent serve``) builds the same
``Settings``; ``get_settings()`` caches the environment's. Tests build their own ``Settings(...)``
and hand them to ``create_app`` / ``make_celery``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.budgets import (
    DEFAULT_GENERATED_DATA_BYTES,
    DEFAULT_JOB_RECORD_BYTES,
    DEFAULT_SWEEP_RECORD_BYTES,
)
from engine.build import Limits
from worker.embedded import DEFAULT_MAXMEMORY

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class Settings(BaseSettings):
    """Configuration of the service. Each field is ``DESCENT_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="DESCENT_", extra="ignore")

    redis_url: str = Field(
        default=DEFAULT_REDIS_URL,
        description="Redis for the job store (and the broker unless broker_url is set). "
        "`descent serve` starts an embedded Redis when this is not set.",
    )
    broker_url: str | None = Field(default=None, description="Celery broker; default redis_url.")
    data_dir: Path = Field(default=Path("data"), description="Embedded Redis's append-only file.")
    api_keys: str = Field(
        default="", description="Comma-separated API keys; empty means no authentication."
    )
    max_steps: int = Field(default=10_000_000, ge=1, description="Server cap on a spec's max_steps.")
    job_record_bytes: int = Field(
        default=DEFAULT_JOB_RECORD_BYTES, ge=1024, description="Byte budget of one job: its "
        "recorded trajectory, points × (dims + 3) × 8, plus its per-step schedule tables "
        "(docs/spec.md §9.4); over it a submission is a 422 naming record_every or max_steps."
    )
    sweep_record_bytes: int = Field(
        default=DEFAULT_SWEEP_RECORD_BYTES, ge=1024, description="Byte budget of one sweep: the "
        "same costs summed over its runs (422 above)."
    )
    generated_data_bytes: int = Field(
        default=DEFAULT_GENERATED_DATA_BYTES, ge=1024, description="Byte budget of a generated "
        "data set, n_samples × (n_features + 1) × 8 (422 above, before it is drawn)."
    )
    redis_maxmemory: str = Field(
        default=DEFAULT_MAXMEMORY, description="maxmemory of the embedded Redis (`descent serve`), with "
        "policy noeviction: when full, writes answer 503 and what is stored stays readable. "
        "A Redis size such as 512mb or 2gb; 0 for no limit."
    )
    job_ttl_s: int = Field(
        default=7 * 24 * 3600, ge=60, description="How long finished jobs and results are kept."
    )
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed by CORS ('*' for any)."
    )
    job_time_limit_s: float = Field(
        default=600.0, gt=0, description="A job's run-time budget; over it the job fails and "
        "keeps its partial trajectory."
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    max_result_points: int = Field(
        default=2_000_000, ge=2, description="Largest max_points a result request may ask for."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Runs of one job before a crashing job is failed for good."
    )
    progress_interval_s: float = Field(
        default=0.25, gt=0, description="Least time between two progress writes of a job."
    )
    max_sweep_runs: int = Field(
        default=10_000, ge=1, description="Most runs one sweep may have (422 above, with the count)."
    )
    max_dataset_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="Largest dataset upload (413 above); "
        "uploads to /v1/datasets are held to this instead of max_body_bytes."
    )
    max_dataset_rows: int = Field(
        default=1_000_000, ge=1, description="Most rows (samples) a dataset may have (422 above)."
    )
    queue_name: str = Field(default="descent", description="Celery queue the jobs go through.")
    workers: int | None = Field(
        default=None, ge=1, description="Worker processes of `descent serve` (default: cores)."
    )
    max_active: int | None = Field(
        default=None, ge=0, description="Most queued-or-running jobs and sweeps per key (per "
        "client address without keys); over it a submission is a 429. Default: 1000 with API "
        "keys, none without; 0 turns the cap off."
    )
    rate_limit: str | None = Field(
        default=None, description="Requests per key (per client address without keys) and "
        "window, e.g. '100/second' or '5/minute'; reads (GET) and writes (POST, DELETE) each "
        "get the whole limit. Over it: 429. Default: '100/second' with API keys, none without; "
        "'none' turns it off."
    )

    @field_validator("broker_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "none", "off"):
            return value
        from limits import parse  # here, not at the top: importing it takes ~0.25 s

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as '100/second' or "
                             "'5/minute'") from None
        return value.strip()

    @property
    def effective_max_active(self) -> int | None:
        """The active cap in force: the setting, else 1000 with keys and none without."""
        if "max_active" in self.model_fields_set:
            return self.max_active or None
        return 1000 if self.api_key_list else None

    @property
    def effective_rate_limit(self) -> str | None:
        """The rate limit in force: the setting, else '100/second' with keys, none without."""
        if "rate_limit" in self.model_fields_set and self.rate_limit is not None:
            off = self.rate_limit.strip().lower() in ("", "none", "off")
            return None if off else self.rate_limit
        return "100/second" if self.api_key_list else None

    @property
    def limits(self) -> Limits:
        """The engine's caps and byte budgets, as these settings set them."""
        return Limits(max_steps=self.max_steps, job_record_bytes=self.job_record_bytes,
                      sweep_record_bytes=self.sweep_record_bytes,
                      generated_data_bytes=self.generated_data_bytes)

    @property
    def broker(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def redis_configured(self) -> bool:
        """Whether the Redis URL was given (``descent serve`` embeds one otherwise)."""
        return "redis_url" in self.model_fields_set

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The environment's settings, read once per process."""
    return Settings()
