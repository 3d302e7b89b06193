# descent: one image for the API and the workers (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    DESCENT_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY worker ./worker
COPY api ./api
COPY cli ./cli
COPY descent ./descent
RUN pip install --no-cache-dir . \
    && useradd --create-home descent \
    && mkdir -p /data /tmp/numba-cache && chown descent /data /tmp/numba-cache
USER descent

EXPOSE 8000
# The API by default; the worker service runs `descent worker`.
CMD ["uvicorn", "--factory", "api.app:create_app", "--host", "0.0.0.0", "--port", "8000"]
