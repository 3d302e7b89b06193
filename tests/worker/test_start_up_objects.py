"""A started service process sets what it holds aside from the cyclic garbage collector
(``worker.app.freeze_start_up_objects``): a pool process once its kernels are warm, the API once
its server has started. Each is checked in a fresh interpreter, as the process starts it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

FROZEN = "import gc; print(gc.get_freeze_count())"


def frozen_after(code: str) -> int:
    completed = subprocess.run([sys.executable, "-c", f"{code}\n{FROZEN}"], cwd=ROOT,
                               capture_output=True, text=True, timeout=300, check=True)
    return int(completed.stdout.split()[-1])


def test_a_pool_process_freezes_its_start_up_objects_once_its_kernels_are_warm() -> None:
    assert frozen_after("import gc; from worker.tasks import _warm_up") == 0
    assert frozen_after("from worker.tasks import _warm_up; _warm_up()") > 50_000


def test_the_api_freezes_its_start_up_objects_when_its_server_starts() -> None:
    setup = ("from fastapi.testclient import TestClient; from api.app import create_app; "
             "from worker.settings import Settings; "
             "app = create_app(Settings(redis_url='redis://127.0.0.1:9/0'))")
    assert frozen_after(setup) == 0
    assert frozen_after(f"{setup}\nwith TestClient(app): pass") > 50_000
