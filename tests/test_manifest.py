from __future__ import annotations

import json
from pathlib import Path

import pytest

from j1.generate import GenerateConfig
from j1.manifest import RunManifest, fingerprint


def test_fingerprint_tracks_content(tmp_path: Path) -> None:
    f = tmp_path / "data.jsonl"
    f.write_text('{"a": 1}\n')
    first = fingerprint(f)
    assert first == fingerprint(f) and first.startswith("sha256:")
    f.write_text('{"a": 2}\n')
    assert fingerprint(f) != first
    assert fingerprint("org/model") == "id:org/model"


def test_folder_fingerprint(tiny_model_dir: Path) -> None:
    assert fingerprint(tiny_model_dir) == fingerprint(tiny_model_dir)


def test_manifest_lifecycle(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("{}\n")
    with RunManifest(tmp_path / "out", "j1 test", GenerateConfig()) as m:
        m.add_model("judge", str(tiny_model_dir))
        m.add_data("input", data)
        running = json.loads((tmp_path / "out" / "manifest.json").read_text())
        assert running["status"] == "running"
        m.counts["items"] = 3
    body = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert body["status"] == "ok" and body["counts"] == {"items": 3}
    assert body["command"] == "j1 test"
    assert body["versions"]["torch"] and body["versions"]["transformers"] and body["versions"]["trl"]
    assert body["models"]["judge"]["fingerprint"].startswith("sha256:")
    assert body["data"]["input"]["fingerprint"] == fingerprint(data)
    assert body["config"]["backend"]["name"] == "vllm"
    assert (tmp_path / "out" / "config.yaml").is_file()


def test_manifest_records_failure(tmp_path: Path) -> None:
    with pytest.raises(ValueError), RunManifest(tmp_path, "j1 test"):
        raise ValueError("boom")
    body = json.loads((tmp_path / "manifest.json").read_text())
    assert body["status"] == "failed" and "boom" in body["error"]


def test_folder_fingerprint_inside_a_cache_path(tmp_path: Path) -> None:
    """Models live in ~/.cache/j1: only .cache folders *inside* the model folder are skipped."""
    folder = tmp_path / ".cache" / "model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert fingerprint(folder) != empty


def test_hub_models_and_datasets_are_pinned_by_their_cached_commit(tmp_path: Path, monkeypatch) -> None:
    """A hub id records the commit its `main` resolved to in the hub cache (None when not cached), and the
    manifest records the checkout's git commit."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    ref = tmp_path / "hub" / "models--org--judge" / "refs" / "main"
    ref.parent.mkdir(parents=True)
    ref.write_text("0123abcd" * 5)
    data = tmp_path / "hub" / "datasets--org--bench" / "refs" / "main"
    data.parent.mkdir(parents=True)
    data.write_text("feedbeef" * 5 + "\n")
    with RunManifest(tmp_path / "out", "j1 test") as m:
        m.add_model("judge", "org/judge")
        m.add_model("other", "org/not-downloaded")
        m.add_data("bench", "org/bench")
    body = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert body["models"]["judge"]["revision"] == "0123abcd" * 5
    assert body["models"]["other"]["revision"] is None
    assert body["data"]["bench"]["revision"] == "feedbeef" * 5
    root = Path(__file__).resolve().parents[1]
    if (root / ".git").exists():
        assert len(body["source"]["git_commit"]) == 40 and isinstance(body["source"]["dirty"], bool)
