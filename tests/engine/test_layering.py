"""The engine stands alone: it never imports the service or web/queue/store libraries."""

import ast
from pathlib import Path

FORBIDDEN = {"fastapi", "starlette", "celery", "kombu", "redis", "uvicorn", "httpx", "api", "worker",
             "cli", "torch"}
ENGINE = Path(__file__).resolve().parents[2] / "engine"


def test_engine_imports_no_service_or_web_library():
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders
