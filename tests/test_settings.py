"""Settings: one object read from FAQBOT_ variables, every field documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT, Settings

README = PROJECT_ROOT / "README.md"


def readme() -> str:
    assert README.is_file(), "README.md is missing"
    return README.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_in_the_readme(name: str) -> None:
    assert f"FAQBOT_{name.upper()}" in readme(), f"FAQBOT_{name.upper()} is not in README.md"


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    mentioned = set(re.findall(r"FAQBOT_([A-Z0-9_]+)", readme()))
    assert mentioned <= {name.upper() for name in Settings.model_fields}


def test_settings_come_from_faqbot_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAQBOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("FAQBOT_KNOWLEDGE_DIR", str(tmp_path / "knowledge"))
    monkeypatch.setenv("FAQBOT_CONTACT_PHONE", "(555) 010-0199")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.index_dir == tmp_path / "index"
    assert settings.knowledge_dir == tmp_path / "knowledge"
    assert settings.contact_phone == "(555) 010-0199"


def test_defaults_follow_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"FAQBOT_{name.upper()}", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.knowledge_dir == PROJECT_ROOT / "knowledge"
    assert settings.index_dir == PROJECT_ROOT / "index"
    assert settings.model == "all-MiniLM-L6-v2"
    assert settings.admin_token is None  # admin routes closed until it is set
    assert settings.database.startswith("sqlite:///")
    assert settings.contact_name == "The Haven Detox-New Jersey"
    assert settings.contact_phone == "(856) 666-2441"
