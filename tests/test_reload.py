"""Releases: the editor loop through the command line and HTTP against a real server, reload
refusals while the old index keeps serving, the canary, the watcher, and ``diff``."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, make_settings
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.content.checks import build, release_files
from bot.content.diff import diff_passages
from bot.content.phrasings import phrasing_problems
from bot.embedding import SentenceTransformerEmbedder
from bot.index import MANIFEST_FILE, PASSAGES_FILE, _file_digest, build_index, index_version
from bot.knowledge import KnowledgeBase, Passage, display_path
from bot.settings import PROJECT_ROOT

TOKEN = "release-token"
AFTERCARE = """---
title: Aftercare
status: approved
reviewed_on: 2026-10-01
---

# Getting Home After an Infusion

Plan a ride home after every ketamine infusion, because you must not drive, cycle or operate
machinery until the next day, even if you feel fully alert after the session ends.

<!-- questions
- Can I drive myself home after a ketamine infusion?
-->
"""


def add_aftercare(knowledge: Path) -> None:
    """What an editor does to answer a new topic: add the file, and take the topic's questions off
    the out-of-scope list, where they would keep sending visitors to the fallback."""
    (knowledge / "aftercare.md").write_text(AFTERCARE, encoding="utf-8")
    scope = knowledge / "out-of-scope.yaml"
    kept = [line for line in scope.read_text(encoding="utf-8").splitlines() if "drive" not in line.casefold()]
    scope.write_text("\n".join(kept) + "\n", encoding="utf-8")


DRAFT = """---
title: Parking
status: draft
reviewed_on: 2026-10-01
---

# Parking at the Clinic

Free visitor parking with validated tickets is available in the garage behind the clinic building
on Mondays through Saturdays from seven in the morning.
"""
BROKEN = """---
title: Broken
status: published
reviewed_on: 2026-10-01
---

# A Section

Some text that is long enough to be a passage of its own in this broken knowledge file here.
"""


def cli(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(app, args, env=env)


def ids(reply: dict[str, object], key: str = "answers") -> list[str]:
    items = reply[key]
    assert isinstance(items, list)
    return [item["id"] for item in items]


def wait_for_version(http: httpx.Client, version: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    served = ""
    while time.monotonic() < deadline:
        served = http.get("/readyz").json()["index_version"]
        if served == version:
            break
        time.sleep(0.1)
    return str(served)


@pytest.fixture
def served(tmp_path: Path, index_dir: Path) -> Path:
    """A writable copy of the built project index, served by the test's own server."""
    target = tmp_path / "index"
    shutil.copytree(index_dir, target)
    return target


def test_editor_loop(tmp_path: Path, knowledge_copy: Path, served: Path, embedder: SentenceTransformerEmbedder) -> None:
    settings = make_settings(tmp_path, served, knowledge_copy, admin_token=TOKEN)
    env = {
        "FAQBOT_KNOWLEDGE_DIR": str(knowledge_copy),
        "FAQBOT_INDEX_DIR": str(served),
        "FAQBOT_DATABASE": settings.database,
        "FAQBOT_ADMIN_TOKEN": TOKEN,
        "HF_HUB_OFFLINE": "1",
    }
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    question = "Can I drive myself home after a ketamine infusion?"
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        old_version = http.get("/readyz").json()["index_version"]
        assert not any(
            i.startswith("aftercare#") for i in ids(http.post("/api/chat", json={"message": question}).json())
        )

        # 1. An approved file and a draft; both pass the checks.
        add_aftercare(knowledge_copy)
        (knowledge_copy / "parking.md").write_text(DRAFT, encoding="utf-8")
        checked = cli(["check", "--no-model"], env)
        assert checked.exit_code == 0, checked.output
        assert "3 file(s)" in checked.stdout

        # 2. Build, then diff against what the server serves: one passage added, the draft not.
        built = cli(["build"], env)
        assert built.exit_code == 0, built.output
        diffed = cli(["diff", "--server", live.url], env)
        assert diffed.exit_code == 0, diffed.output
        assert "+ aftercare#getting-home-after-an-infusion-1" in diffed.stdout
        assert "parking" not in diffed.stdout
        assert "1 added, 0 removed, 0 changed" in diffed.stdout
        assert http.get("/readyz").json()["index_version"] == old_version  # built, not yet served

        # 3. Reload: 401 without the token, the new version with it.
        assert http.post("/admin/reload").status_code == 401
        assert http.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401
        reloaded = http.post("/admin/reload", headers=bearer)
        assert reloaded.status_code == 200, reloaded.text
        new_version = reloaded.json()["index_version"]
        assert new_version != old_version
        assert reloaded.json()["previous_version"] == old_version
        assert http.get("/readyz").json()["index_version"] == new_version
        assert "no changes" in cli(["diff", "--server", live.url], env).stdout

        # 4. The new passage answers, verbatim.
        reply = http.post("/api/chat", json={"message": question}).json()
        assert reply["matched"] is True
        assert reply["answers"][0]["id"] == "aftercare#getting-home-after-an-infusion-1"
        assert reply["answers"][0]["text"].startswith("Plan a ride home after every ketamine infusion")

        # 5. The draft is not indexed: staff search cannot find it either.
        found = http.get("/api/search", params={"q": "validated parking tickets in the garage", "k": 50}).json()
        assert not any(i.startswith("parking#") for i in ids(found, "results"))

        # 6. A broken file fails check with path:line, and build builds nothing.
        (knowledge_copy / "broken.md").write_text(BROKEN, encoding="utf-8")
        broken = cli(["check", "--no-model"], env)
        assert broken.exit_code == 1
        assert f"{display_path(knowledge_copy / 'broken.md')}:3: status must be" in broken.stderr
        assert cli(["build"], env).exit_code == 1
        assert json.loads((served / MANIFEST_FILE).read_text())["index_version"] == new_version
        (knowledge_copy / "broken.md").unlink()

        # 7. A corrupt index is refused with 409 and a reason, and answers keep coming from the old one.
        faiss_file = served / "vectors.faiss"
        faiss_file.write_bytes(faiss_file.read_bytes()[:100])
        refused = http.post("/admin/reload", headers=bearer)
        assert refused.status_code == 409
        assert "does not match the manifest" in refused.json()["detail"]
        assert refused.json()["index_version"] == new_version
        reply = http.post("/api/chat", json={"message": question}).json()
        assert reply["index_version"] == new_version
        assert reply["answers"][0]["id"] == "aftercare#getting-home-after-an-infusion-1"

        # 8. Personal data planted in questions never reaches disk.
        planted = "My name is Zelphine Quorra (zelphine.quorra@example.com), where do I park at your garage?"
        assert http.post("/api/chat", json={"message": planted}).json()["matched"] is False
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        content = path.read_bytes().lower()
        assert b"zelphine" not in content, path


def make_release(server: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``make release`` as an editor runs it (``-o``: use the installed virtualenv as it is)."""
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "release", f"SERVER={server}"]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_release_serves_the_new_build_or_says_in_one_line_why_not(
    tmp_path: Path, knowledge_copy: Path, served: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings(tmp_path, served, knowledge_copy, admin_token=TOKEN)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FAQBOT_INDEX_DIR": str(served), "HF_HUB_OFFLINE": "1"}
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        old_version = http.get("/readyz").json()["index_version"]
        add_aftercare(knowledge_copy)
        built = build(knowledge_copy, served, embedder)
        new_version = built.index_version

        # Without the token, or with another one, nothing changes and the editor is told what to set.
        unset = make_release(live.url, env)
        assert unset.returncode != 0
        assert unset.stderr.splitlines()[0] == (
            "error: FAQBOT_ADMIN_TOKEN is not set: it must be the token the server was started with"
        )
        wrong = make_release(live.url, {**env, "FAQBOT_ADMIN_TOKEN": "wrong"})
        assert wrong.returncode != 0
        assert wrong.stderr.splitlines()[0].startswith(f"error: {live.url} refused the admin token")
        assert http.get("/readyz").json()["index_version"] == old_version

        # With it, the server serves the new build, and one line says which version.
        released = make_release(live.url, {**env, "FAQBOT_ADMIN_TOKEN": TOKEN})
        assert released.returncode == 0, released.stderr
        served_now = f"{live.url} now serves index {new_version} ({built.passage_count} passages; was {old_version})"
        assert released.stdout.splitlines() == [served_now]
        assert http.get("/readyz").json()["index_version"] == new_version

        # A broken build is refused: one line with the reason and the version still served.
        faiss_file = served / "vectors.faiss"
        faiss_file.write_bytes(faiss_file.read_bytes()[:100])
        refused = make_release(live.url, {**env, "FAQBOT_ADMIN_TOKEN": TOKEN})
        assert refused.returncode != 0
        line = refused.stderr.splitlines()[0]
        assert line.startswith("error: index refused: ")
        assert "does not match the manifest" in line
        assert line.endswith(f"{live.url} still serves index {new_version}")
        assert "Traceback" not in refused.stderr

    nobody = make_release(live.url, {**env, "FAQBOT_ADMIN_TOKEN": TOKEN})
    assert nobody.returncode != 0
    assert nobody.stderr.splitlines()[0].startswith(f"error: cannot reach {live.url} (")
    assert nobody.stderr.splitlines()[0].endswith("is the server running?")


def test_an_index_without_passages_is_refused_at_start_and_at_reload(
    tmp_path: Path, served: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """Such an index can only be made outside check and build (an old build, a hand-made folder)."""
    empty = tmp_path / "empty-index"
    build_index(KnowledgeBase((), ()), empty, embedder, {}, [], release_files(PROJECT_ROOT / "knowledge"))
    no_passages = f"the index in {empty} has no passages: approve a knowledge file with passages, then check and build"

    started = cli(["serve"], {"FAQBOT_INDEX_DIR": str(empty), "HF_HUB_OFFLINE": "1"})
    assert started.exit_code == 1
    assert started.stderr == f"error: {no_passages}\n"

    settings = make_settings(tmp_path, served, admin_token=TOKEN)
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        version = http.get("/readyz").json()["index_version"]
        shutil.rmtree(served)
        shutil.copytree(empty, served)
        refused = http.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 409
        assert refused.json() == {
            "detail": f"index refused: {no_passages.replace(str(empty), str(served))}",
            "index_version": version,
        }
        assert http.post("/api/chat", json={"message": "What are the side effects of ketamine?"}).json()["matched"]


def rewrite_passages(index: Path, change: object) -> None:
    """Change passages.json and re-sign it in the manifest, as a mismatched build would."""
    records = json.loads((index / PASSAGES_FILE).read_text())
    assert callable(change)
    change(records)
    (index / PASSAGES_FILE).write_text(json.dumps(records))
    manifest = json.loads((index / MANIFEST_FILE).read_text())
    manifest["files"][PASSAGES_FILE] = _file_digest(index / PASSAGES_FILE)
    (index / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_reload_refuses_another_model_and_a_failed_canary(
    tmp_path: Path, served: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings(tmp_path, served, admin_token=TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    original = (served / MANIFEST_FILE).read_text()
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        version = http.get("/readyz").json()["index_version"]
        manifest = json.loads(original)
        other = {"model": "another-model", "index_version": index_version(manifest["content_hash"], "another-model")}
        (served / MANIFEST_FILE).write_text(json.dumps({**manifest, **other}))
        refused = http.post("/admin/reload", headers=bearer)
        assert refused.status_code == 409
        assert "another-model" in refused.json()["detail"]

        # Vectors that point at the wrong passages pass every file check; only the canary sees it.
        (served / MANIFEST_FILE).write_text(original)
        rewrite_passages(served, lambda r: r.update(owners=r["owners"][::-1]))
        refused = http.post("/admin/reload", headers=bearer)
        assert refused.status_code == 409
        assert "canary search failed" in refused.json()["detail"]
        assert http.get("/readyz").json()["index_version"] == version
        assert http.post("/api/chat", json={"message": "What are the side effects of ketamine?"}).json()["matched"]


def test_watcher_picks_up_a_new_index_and_ignores_a_bad_one(
    tmp_path: Path, knowledge_copy: Path, served: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings(tmp_path, served, knowledge_copy, watch_index=True, watch_interval=0.2)
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        old_version = http.get("/readyz").json()["index_version"]
        add_aftercare(knowledge_copy)
        new_version = build(knowledge_copy, served, embedder).index_version
        assert wait_for_version(http, new_version) == new_version
        assert new_version != old_version

        # A damaged build with a new manifest is refused; the served version stays.
        manifest = json.loads((served / MANIFEST_FILE).read_text())
        (served / "vectors.faiss").write_bytes(b"not a faiss file")
        (served / MANIFEST_FILE).write_text(json.dumps({**manifest, "index_version": "0000000000000000"}))
        time.sleep(1.5)  # several polls
        assert http.get("/readyz").json()["index_version"] == new_version
        assert http.post("/api/chat", json={"message": "Can I drive home after an infusion?"}).json()["matched"]


def passage(id: str, text: str, section: str = "S") -> Passage:
    return Passage(id=id, text=text, section=section, title="T", path="k.md", line=1)


def test_diff_lists_added_removed_and_changed() -> None:
    old = [passage("a", "one"), passage("b", "two"), passage("c", "three")]
    new = [passage("a", "one"), passage("b", "two, reworded"), passage("d", "four")]
    changes = diff_passages(old, new)
    assert changes.as_dict() == {"added": ["d"], "removed": ["c"], "changed": ["b"]}
    assert "~ b  [S]  k.md:1  (text changed)" in changes.lines()
    assert diff_passages(old, old).empty
    moved = diff_passages(old, [dataclasses.replace(old[0], questions=("q?",)), *old[1:]])
    assert moved.lines() == ["~ a  [S]  k.md:1  (questions changed)"]


def test_diff_against_an_index_folder(
    tmp_path: Path, knowledge_copy: Path, served: Path, embedder: SentenceTransformerEmbedder
) -> None:
    add_aftercare(knowledge_copy)
    env = {"FAQBOT_KNOWLEDGE_DIR": str(knowledge_copy), "FAQBOT_INDEX_DIR": str(served), "HF_HUB_OFFLINE": "1"}
    result = cli(["diff", str(served), "--knowledge", "--json"], env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == ["aftercare#getting-home-after-an-infusion-1"]
    missing = cli(["diff", str(tmp_path / "nowhere")], env)
    assert missing.exit_code == 1
    assert "no index" in missing.stderr


def test_phrasing_that_matches_another_section_better_is_a_warning(embedder: SentenceTransformerEmbedder) -> None:
    passages = [
        passage("dose#1", "The dose is 0.5 mg per kilogram of body weight, given over forty minutes.", "Dosage"),
        passage("side#1", "Nausea, dizziness and raised blood pressure can follow an infusion.", "Side Effects"),
    ]
    good = dataclasses.replace(passages[0], questions=("How much ketamine is given?",))
    misplaced = dataclasses.replace(passages[0], questions=("Will ketamine make me feel sick or dizzy?",))
    assert phrasing_problems([good, passages[1]], embedder) == []
    (problem,) = phrasing_problems([misplaced, passages[1]], embedder)
    assert problem.severity == "warning"
    assert "matches section 'Side Effects'" in problem.message
