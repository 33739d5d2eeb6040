"""Every setting, read from the environment (prefix ``FAQBOT_``) or a ``.env`` file, in one place."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """The bot's settings. Each field is documented in the README's Settings table."""

    model_config = SettingsConfigDict(env_prefix="FAQBOT_", env_file=".env", extra="ignore")

    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    index_dir: Path = PROJECT_ROOT / "index"
    model: str = DEFAULT_MODEL
    admin_token: str | None = None
    database: str = f"sqlite:///{PROJECT_ROOT / 'data' / 'faqbot.sqlite3'}"
    match_threshold: float = Field(default=0.45, ge=-1.0, le=1.0)
    contact_name: str = "The Haven Detox-New Jersey"
    contact_phone: str = "(856) 666-2441"

    @property
    def contact_tel(self) -> str:
        """The contact phone as a ``tel:`` URI (digits only, US country code)."""
        digits = "".join(ch for ch in self.contact_phone if ch.isdigit())
        if len(digits) == 10:
            digits = "1" + digits
        return f"tel:+{digits}"
