"""Damaged and mismatched indexes: each is refused when the server starts (one clear line, non-zero
exit, no traceback) and when it is reloaded (409, the old index still answering). None takes the
process down: FAISS can abort on a bad file, so the checks run before it reads one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import faiss
import httpx
import numpy as np
import pytest
from conftest import LiveServer, free_port, make_settings

from bot.embedding import SentenceTransformerEmbedder
from bot.index import INDEX_FILE, MANIFEST_FILE, PASSAGES_FILE

TOKEN = "test-admin-token"


def rehash(folder: Path, **manifest_changes: object) -> None:
    """Make the manifest agree with the files again, as a careless hand edit might: the damage is then
    found by the deeper checks (counts, dimension, FAISS itself) rather than by the hashes."""
    path = folder / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    for name in manifest["files"]:
        data = (folder / name).read_bytes()
        manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest.update(manifest_changes)
    path.write_text(json.dumps(manifest))


def truncated_faiss(folder: Path) -> None:
    data = (folder / INDEX_FILE).read_bytes()
    (folder / INDEX_FILE).write_bytes(data[: len(data) // 2])


def truncated_faiss_rehashed(folder: Path) -> None:
    truncated_faiss(folder)
    rehash(folder)


def passages_out_of_step(folder: Path) -> None:
    records = json.loads((folder / PASSAGES_FILE).read_text())
    records["owners"].pop()
    (folder / PASSAGES_FILE).write_text(json.dumps(records))


def passages_out_of_step_rehashed(folder: Path) -> None:
    passages_out_of_step(folder)
    rehash(folder)


def wrong_dimension(folder: Path) -> None:
    old = faiss.read_index(str(folder / INDEX_FILE))
    small = faiss.IndexFlatIP(8)
    small.add(np.random.default_rng(0).random((old.ntotal, 8), dtype=np.float32))
    faiss.write_index(small, str(folder / INDEX_FILE))
    rehash(folder)


def wrong_dimension_in_manifest(folder: Path) -> None:
    rehash(folder, dimension=768)


def another_models_manifest(folder: Path) -> None:
    rehash(folder, model="sentence-transformers/paraphrase-MiniLM-L3-v2")


def missing_passages(folder: Path) -> None:
    (folder / PASSAGES_FILE).unlink()


def missing_manifest(folder: Path) -> None:
    (folder / MANIFEST_FILE).unlink()


# Each damage and a phrase the refusal must contain.
DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated FAISS file": (truncated_faiss, "does not match the manifest"),
    "truncated FAISS file, manifest rehashed": (truncated_faiss_rehashed, "not a readable FAISS index"),
    "passages out of step with the vectors": (passages_out_of_step, "does not match the manifest"),
    "passages out of step, manifest rehashed": (passages_out_of_step_rehashed, "out of step"),
    "FAISS file of the wrong dimension": (wrong_dimension, "dimension 8"),
    "manifest of the wrong dimension": (wrong_dimension_in_manifest, "768"),
    "another model's manifest": (another_models_manifest, "model"),
    "a missing passages file": (missing_passages, "missing"),
    "a missing manifest": (missing_manifest, "no index"),
}


def damaged_copy(index_dir: Path, target: Path, damage: Callable[[Path], None]) -> Path:
    shutil.copytree(index_dir, target)
    damage(target)
    return target


@pytest.mark.slow
def test_every_damaged_index_is_refused_at_start_in_one_line(index_dir: Path, tmp_path: Path) -> None:
    runs = {}
    for n, (name, (damage, _)) in enumerate(DAMAGE.items()):
        folder = damaged_copy(index_dir, tmp_path / f"index-{n}", damage)
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "FAQBOT_INDEX_DIR": str(folder),
            "FAQBOT_DATABASE": f"sqlite:///{tmp_path / f'db-{n}.sqlite3'}",
        }
        command = [sys.executable, "-m", "bot", "serve", "--port", str(free_port())]
        runs[name] = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, process in runs.items():
        try:
            out, err = process.communicate(timeout=240)
        finally:
            process.kill()
        lines = [line for line in (out + err).splitlines() if line.strip()]
        assert process.returncode == 1, (name, out, err)
        assert "Traceback" not in out + err, name
        assert len(lines) == 1, (name, lines)
        assert lines[0].startswith("error: "), (name, lines)
        assert DAMAGE[name][1] in lines[0], (name, lines)


@pytest.fixture(scope="module")
def live_index(tmp_path_factory: pytest.TempPathFactory, index_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("served") / "index"
    shutil.copytree(index_dir, folder)
    return folder


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, live_index: Path, embedder: SentenceTransformerEmbedder
) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path_factory.mktemp("reload-db"), live_index, admin_token=TOKEN)
    with LiveServer(settings, embedder) as server:
        yield server


@pytest.mark.parametrize("name", list(DAMAGE))
def test_a_damaged_index_is_refused_at_reload_and_the_old_one_keeps_answering(
    live: LiveServer, live_index: Path, index_dir: Path, tmp_path: Path, name: str
) -> None:
    damage, phrase = DAMAGE[name]
    with httpx.Client(base_url=live.url, timeout=60) as http:
        served = http.get("/readyz").json()["index_version"]
        shutil.rmtree(live_index)
        damaged_copy(index_dir, live_index, damage)
        try:
            refused = http.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
            assert refused.status_code == 409, refused.text
            assert phrase in refused.json()["detail"]
            assert refused.json()["index_version"] == served
            answer = http.post("/api/chat", json={"message": "Can ketamine make me dizzy?"})
            assert answer.status_code == 200
            assert answer.json()["matched"]
            assert answer.json()["index_version"] == served
        finally:
            shutil.rmtree(live_index)
            shutil.copytree(index_dir, live_index)
        assert live.thread.is_alive()
        # The good index is taken again once it is back.
        assert http.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
