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
    """The bot's settings. Each field's description is the short form of its row in the README's settings tables."""

    model_config = SettingsConfigDict(env_prefix="FAQBOT_", env_file=".env", extra="ignore")

    knowledge_dir: Path = Field(
        default=PROJECT_ROOT / "knowledge",
        description="The vetted knowledge files, synonyms, out-of-scope list and safety lists.",
    )
    index_dir: Path = Field(
        default=PROJECT_ROOT / "index", description="Where `build` writes the index and the server reads it."
    )
    model: str = Field(
        default=DEFAULT_MODEL,
        description="The embedding model: a sentence-transformers name or local path (rebuild after changing it).",
    )
    admin_token: str | None = Field(
        default=None,
        description="The token for /admin routes and the dashboard; while unset the admin area is closed.",
    )
    database: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'data' / 'faqbot.sqlite3'}",
        description="Where feedback, crisis counts, the redacted question log and published releases live: "
        "an SQLAlchemy URL or a file path.",
    )
    contact_name: str = Field(
        default="The Haven Detox-New Jersey",
        description="Who the fallback tells visitors to call, and the clinic named when a visitor asks about it.",
    )
    contact_phone: str = Field(default="(856) 666-2441", description="Their phone number, shown as a tap-to-call link.")
    language_help_phone: str | None = Field(
        default=None,
        description="The number given, in the visitor's language, to a visitor who writes in Spanish, Portuguese, "
        "French, German or Italian: where a person who speaks it can be reached. The contact phone when unset.",
    )
    rate_limit: Rate = Field(
        default="30/minute", description="Requests per client to chat (N/second, N/minute, N/hour…); 0 turns it off."
    )
    search_rate_limit: Rate = Field(
        default="240/minute",
        description="Requests per client to search; higher than chat because the staff page searches as you type, "
        "several requests a question, often from one office address. 0 turns it off.",
    )
    admin_rate_limit: Rate = Field(
        default="10/minute",
        description="Requests per client to /admin routes that carry no valid token or session; 0 turns it off.",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where the limits are counted: memory:// per process, or a shared store such as "
        "redis://host:6379 for several workers or replicas.",
    )
    trusted_proxies: CommaList = Field(
        default=[],
        description="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For "
        "names the real client.",
    )
    metrics_allow: NetworkList = Field(
        default=[],
        description="Comma-separated addresses or networks that may read /metrics (Prometheus); nobody while empty.",
    )
    cors_origins: OriginList = Field(
        default=[],
        description="Comma-separated origins whose pages may call the JSON API; CORS is off while empty.",
    )
    embed_origins: OriginList = Field(
        default=[],
        description="Comma-separated origins allowed to frame /embed (the widget); each a bare origin: "
        "scheme, host, optional port.",
    )
    site_title: str = Field(
        default="Questions about ketamine therapy",
        description="The heading of the visitor page and the title of every page.",
    )
    starter_questions: list[str] = Field(
        default=[
            "How does ketamine therapy work?",
            "What are the side effects of ketamine?",
            "How many ketamine sessions will I need?",
        ],
        # A JSON list in the environment, since a question may hold a comma.
        description="A JSON list of questions offered as buttons before the visitor has asked anything; [] shows none.",
    )
    log_questions: bool = Field(
        default=True,
        description="Keep unanswered questions, redacted, for the dashboard; off keeps no question text at all.",
    )
    question_retention_days: int = Field(
        default=30, ge=1, le=3650, description="How long a kept question lives; purged at start and daily."
    )
    stale_after_days: int = Field(
        default=365,
        ge=1,
        description="check warns, and the dashboard flags a file, when reviewed_on is older than this.",
    )
    watch_index: bool = Field(
        default=False,
        description="Each server process polls the index manifest and reloads a new version itself.",
    )
    watch_interval: float = Field(
        default=10.0, gt=0, le=3600, description="Seconds between polls when watch_index is on."
    )
    # A fleet: see the README's "Several machines" section.
    releases: Literal["folder", "database"] = Field(
        default="folder",
        description="folder: serve the index in index_dir. database: serve the current release published to "
        "the database and follow it; index_dir is then a local cache.",
    )
    replica_name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=200,
        description="How this replica is named on the dashboard and in the database's records of who serves "
        "which release; the host name unless set.",
    )
    time_zone: TimeZone = Field(
        default="UTC",
        description='The time zone of the dashboard\'s times ("2 December, 09:14"), such as America/New_York.',
    )
    # Performance: see the README's Performance section.
    encoder: Literal["onnx", "torch"] = Field(
        default="onnx",
        description="onnx: the model through ONNX Runtime (exported once, checked against the original); "
        "torch: sentence-transformers.",
    )
    encoder_cache: Path = Field(
        default=Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "faqbot",
        description="Where the exported ONNX model is kept (one folder per model and weights).",
    )
    encoder_threads: int = Field(
        default=0, ge=0, le=256, description="Threads the encoder uses for one batch; 0 means one per CPU core."
    )
    batching: bool = Field(
        default=True,
        description="Embed questions that arrive together in one call; off encodes each request alone.",
    )
    batch_max_size: int = Field(default=32, ge=1, le=1024, description="The most texts one encode call takes.")
    batch_max_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=100,
        description="How long a batch may wait for more questions while requests are arriving together.",
    )
    cache_size: int = Field(
        default=2048,
        ge=0,
        description="Replies (and, separately, staff searches) kept in memory per index version; 0 turns it off.",
    )
    # Holding up under abuse: see the README's Security section.
    request_timeout: float = Field(
        default=20.0,
        gt=0,
        le=600,
        description="Seconds a client has to send a whole request, headers and body; then 408.",
    )
    max_connections: int = Field(
        default=1000, ge=1, description="Open connections a worker keeps; past it, new requests get 503 at once."
    )
    secure_cookies: bool = Field(
        default=False,
        description="on: the admin cookies are Secure even when the request looks like plain HTTP "
        "(a TLS proxy not listed in trusted_proxies).",
    )
    feedback_rate_limit: Rate = Field(default="10/minute", description="Votes per client; 0 turns it off.")
    feedback_answer_limit: Rate = Field(
        default="60/hour", description="Votes one answer takes from all clients together; 0 turns it off."
    )
    question_log_limit: Rate = Field(
        default="10/hour",
        description="Unanswered questions of one client kept for the dashboard; the rest are not kept. 0: no limit.",
    )

    @property
    def contact_tel(self) -> str:
        """The contact phone as a ``tel:`` URI (digits only, US country code)."""
        digits = "".join(ch for ch in self.contact_phone if ch.isdigit())
        if len(digits) == 10:
            digits = "1" + digits
        return f"tel:+{digits}"
