"""Every setting, read from the environment (prefix ``FAQBOT_``) or a ``.env`` file, in one place."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from pathlib import Path
from typing import Annotated, Literal

from limits import parse as parse_rate
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.wording import zone

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "all-MiniLM-L6-v2"


def _split_commas(value: object) -> object:
    # Environment variables hold "a, b, c"; code may pass a list.
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def _rate(value: str) -> str:
    # "0" switches a limit off; anything else must be a rate the limits library reads ("30/minute").
    if value.strip() != "0":
        parse_rate(value)
    return value.strip()


def _origins(values: list[str]) -> list[str]:
    # Each one goes into a CSP frame-ancestors list, so only a bare origin may pass (no path, no ";").
    for value in values:
        if not _ORIGIN.fullmatch(value):
            raise ValueError(f"{value!r} is not an origin like https://www.example.org")
    return [value.rstrip("/") for value in values]


def _networks(values: list[str]) -> list[str]:
    for value in values:
        ipaddress.ip_network(value, strict=False)  # ValueError: not an address or network like 10.0.0.0/8
    return values


def _time_zone(value: str) -> str:
    zone(value)  # raises ValueError for a name the time zone database does not know
    return value


_ORIGIN = re.compile(r"https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?/?")
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
OriginList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas), AfterValidator(_origins)]
NetworkList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas), AfterValidator(_networks)]
Rate = Annotated[str, AfterValidator(_rate)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]


class Settings(BaseSettings):
    """The bot's settings. Each field is documented in the README's Settings table."""

    model_config = SettingsConfigDict(env_prefix="FAQBOT_", env_file=".env", extra="ignore")

    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    index_dir: Path = PROJECT_ROOT / "index"
    model: str = DEFAULT_MODEL
    admin_token: str | None = None
    database: str = f"sqlite:///{PROJECT_ROOT / 'data' / 'faqbot.sqlite3'}"
    contact_name: str = "The Haven Detox-New Jersey"
    contact_phone: str = "(856) 666-2441"
    language_help_phone: str | None = None  # who speaks the visitor's language; the contact phone when unset
    rate_limit: Rate = "30/minute"
    # Staff search runs as you type, several requests a question, often from one office address.
    search_rate_limit: Rate = "240/minute"
    admin_rate_limit: Rate = "10/minute"
    rate_limit_storage: str = "memory://"
    trusted_proxies: CommaList = []
    metrics_allow: NetworkList = []  # who may read /metrics (Prometheus); nobody while empty
    cors_origins: OriginList = []
    embed_origins: OriginList = []  # sites allowed to frame /embed (the widget)
    site_title: str = "Questions about ketamine therapy"
    # A JSON list in the environment, since a question may hold a comma.
    starter_questions: list[str] = [
        "How does ketamine therapy work?",
        "What are the side effects of ketamine?",
        "How many ketamine sessions will I need?",
    ]
    log_questions: bool = True  # "off" keeps no question text at all
    question_retention_days: int = Field(default=30, ge=1, le=3650)
    stale_after_days: int = Field(default=365, ge=1)
    watch_index: bool = False
    watch_interval: float = Field(default=10.0, gt=0, le=3600)
    # A fleet: see the README's "Several machines" section.
    releases: Literal["folder", "database"] = "folder"  # database: serve and follow the current published release
    replica_name: str = Field(default_factory=socket.gethostname, min_length=1, max_length=200)
    time_zone: TimeZone = "UTC"  # the dashboard's times: "2 December, 09:14"
    # Performance: see the README's Performance section.
    encoder: Literal["onnx", "torch"] = "onnx"
    encoder_cache: Path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "faqbot"
    encoder_threads: int = Field(default=0, ge=0, le=256)  # 0: one per CPU core
    batching: bool = True
    batch_max_size: int = Field(default=32, ge=1, le=1024)
    batch_max_wait_ms: float = Field(default=2.0, ge=0, le=100)
    cache_size: int = Field(default=2048, ge=0)  # 0 switches the reply cache off
    # Holding up under abuse: see the README's Security section.
    request_timeout: float = Field(default=20.0, gt=0, le=600)  # to read a whole request, headers and body
    max_connections: int = Field(default=1000, ge=1)  # open connections per worker; past it, 503
    secure_cookies: bool = False  # on: the admin cookies are Secure even when the request looks like plain http
    feedback_rate_limit: Rate = "10/minute"  # votes per client
    feedback_answer_limit: Rate = "60/hour"  # votes per answer, all clients together
    question_log_limit: Rate = "10/hour"  # unanswered questions kept per client

    @property
    def contact_tel(self) -> str:
        """The contact phone as a ``tel:`` URI (digits only, US country code)."""
        digits = "".join(ch for ch in self.contact_phone if ch.isdigit())
        if len(digits) == 10:
            digits = "1" + digits
        return f"tel:+{digits}"
