"""Settings: one object read from FAQBOT_ variables, every field documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT, Settings

README = PROJECT_ROOT / "README.md"
# A row of one of the README's settings tables: | `FAQBOT_X` | default | what it does |
ROW = re.compile(r"^\| `FAQBOT_([A-Z0-9_]+)` \| (.*?) \| (.*) \|$", re.MULTILINE)
# How the README writes "no value" (None, or an empty list).
EMPTY = {"(unset)", "(none)", "*(empty)*"}
# Defaults the README can only give in words: they are found when the program runs, or too long for a cell.
IN_WORDS = {
    "replica_name": "(the host name)",  # the name of the machine it runs on
    "encoder_cache": "~/.cache/faqbot",  # under $XDG_CACHE_HOME when that is set
    "starter_questions": "three questions about ketamine",  # a list too long for a table cell
    "language_help_phone": "(the contact phone)",  # None, which means FAQBOT_CONTACT_PHONE
}


def readme() -> str:
    assert README.is_file(), "README.md is missing"
    return README.read_text(encoding="utf-8")


def readme_rows() -> list[tuple[str, str]]:
    """Each settings-table row as (field name, its default cell without backticks)."""
    return [(name.lower(), default.replace("`", "")) for name, default, _ in ROW.findall(readme())]


def as_in_readme(value: object) -> str:
    """A default written the way the README writes it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path) and value.is_relative_to(PROJECT_ROOT):
        return f"{value.relative_to(PROJECT_ROOT)}/"  # the project's folder, as README says knowledge/
    return str(value).replace(f"{PROJECT_ROOT}/", "")  # the database file, in the project's data/ folder


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_has_one_row_in_the_readme(name: str) -> None:
    rows = [row for row in readme_rows() if row[0] == name]
    assert len(rows) == 1, f"FAQBOT_{name.upper()} has {len(rows)} rows in README.md's settings tables, not 1"


def test_every_readme_row_names_a_setting() -> None:
    unknown = sorted(f"FAQBOT_{name.upper()}" for name, _ in readme_rows() if name not in Settings.model_fields)
    assert not unknown, f"README.md has rows for settings that do not exist: {', '.join(unknown)}"


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    mentioned = set(re.findall(r"FAQBOT_([A-Z0-9_]+)", readme()))
    assert mentioned <= {name.upper() for name in Settings.model_fields}


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_the_readme_gives_the_default(name: str) -> None:
    shown = [default for row_name, default in readme_rows() if row_name == name]
    if not shown:
        pytest.fail(f"FAQBOT_{name.upper()} has no row in README.md")
    if name in IN_WORDS:
        words = IN_WORDS[name]
        assert shown[0] == words, f"FAQBOT_{name.upper()}: README.md says {shown[0]!r}; the test expects {words!r}"
        return
    default = Settings.model_fields[name].default
    if default is None or default == []:
        assert shown[0] in EMPTY, f"FAQBOT_{name.upper()}: README.md says {shown[0]!r}; the default is empty"
    else:
        expected = as_in_readme(default)
        assert shown[0] == expected, f"FAQBOT_{name.upper()}: README.md says {shown[0]!r}; the default is {expected!r}"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_describes_itself(name: str) -> None:
    description = Settings.model_fields[name].description
    assert (description or "").strip(), f"FAQBOT_{name.upper()} has no description in bot/settings.py"


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
