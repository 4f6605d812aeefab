"""`make gpu-smoke` on a machine without a GPU: it stops at once and says why (the GPU run is its real test)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_smoke_exits_at_once_without_a_gpu(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: run `make gpu-smoke` itself")
    t = time.time()
    proc = subprocess.run([sys.executable, "-m", "bench.gpu_smoke", "--out", str(tmp_path / "smoke")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and time.time() - t < 60
    assert "no CUDA GPU here" in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["status"] == "no_gpu"
    assert not (tmp_path / "smoke").exists()  # nothing started
