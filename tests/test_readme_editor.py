"""The README's section for the content team, walked through as written on a clean clone: its example
knowledge file added (and its topic taken off the out-of-scope list, as the section says), then its
commands run in order (`make check`, `make build`, `faqbot diff`, `make release`) against a real server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, make_settings

from bot.embedding import SentenceTransformerEmbedder
from bot.settings import PROJECT_ROOT

TOKEN = "readme-editor-token"
README = PROJECT_ROOT / "README.md"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(not (PROJECT_ROOT / ".git").exists(), reason="the project is not a git checkout"),
]


def editor_section() -> str:
    return README.read_text(encoding="utf-8").split("## For the content team", 1)[1].split("\n## ", 1)[0]


def blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def commands(block: str) -> list[str]:
    """A block's commands without their comments."""
    lines = (line.split("#", 1)[0].strip() for line in block.splitlines())
    return [line for line in lines if line]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh clone of the project as committed, using the installed virtual environment (installing it
    is the section's one-time first step, which takes minutes and the network)."""
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(target)], check=True, timeout=120)
    (target / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    return target


def run(clone: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # `-o .venv/.installed`: the clone's pyproject.toml is newer than the shared install, which is current.
    words = command.split()
    if words[0] == "make":
        words = ["make", "--no-print-directory", "-o", ".venv/.installed", *words[1:]]
    return subprocess.run(words, cwd=clone, env=env, capture_output=True, text=True, timeout=600)


def test_the_editor_section_works_as_written_on_a_clean_clone(
    clone: Path, tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    section = editor_section()
    loop = commands(blocks(section, "bash")[0])
    assert loop == ["make check", "make build", "make release"]

    # Step 1: the section's example file, word for word, and its topic off the out-of-scope list.
    example = next(block for block in blocks(section, "markdown") if block.startswith("---\ntitle:"))
    title = re.search(r"^title: (.+)$", example, re.M)
    assert title is not None
    (clone / "knowledge" / "aftercare.md").write_text(example, encoding="utf-8")
    scope = clone / "knowledge" / "out-of-scope.yaml"
    kept = [line for line in scope.read_text(encoding="utf-8").splitlines() if "drive" not in line.casefold()]
    scope.write_text("\n".join(kept) + "\n", encoding="utf-8")
    question = re.search(r"^- (.+\?)$", example, re.M)
    assert question is not None

    served = tmp_path / "served"
    shutil.copytree(index_dir, served)
    settings = make_settings(tmp_path, served, clone / "knowledge", admin_token=TOKEN)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "FAQBOT_INDEX_DIR": str(served),  # the folder the server serves, as on one machine
        "FAQBOT_DATABASE": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "FAQBOT_ADMIN_TOKEN": TOKEN,
    }
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        before = http.get("/readyz").json()["index_version"]
        earlier = http.post("/api/chat", json={"message": question.group(1)}).json()
        assert all(answer["title"] != title.group(1).strip() for answer in earlier["answers"])

        checked = run(clone, "make check", env)
        assert checked.returncode == 0, checked.stderr
        assert "error" not in checked.stdout.casefold()

        built = run(clone, "make build", env)
        assert built.returncode == 0, built.stderr
        version = re.search(r"built index ([0-9a-f]+)", built.stdout)
        assert version is not None, built.stdout

        # Step 3: what it changes, against the server.
        diff = run(clone, f".venv/bin/faqbot diff --server {live.url}", env)
        assert diff.returncode == 0, diff.stderr
        assert "+ aftercare#" in diff.stdout
        assert diff.stdout.strip().endswith("1 added, 0 removed, 0 changed")

        # Step 4: release, as the section's `make release SERVER=...` line says for another server.
        released = run(clone, f"make release SERVER={live.url}", env)
        assert released.returncode == 0, released.stderr
        assert released.stdout.strip().startswith(f"{live.url} now serves index {version.group(1)}")
        assert f"was {before}" in released.stdout
        reply = http.post("/api/chat", json={"message": question.group(1)}).json()
        assert reply["matched"] is True
        assert reply["answers"][0]["title"] == title.group(1).strip()
