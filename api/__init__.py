"""descent's HTTP API (FastAPI): ``create_app(settings)``."""
