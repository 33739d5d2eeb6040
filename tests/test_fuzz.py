"""Fuzzing: schemathesis against the app's own OpenAPI schema, in-process, and hypothesis against the
knowledge parser, the crisis matcher and the redactor. A short run here; ``FUZZ_EXAMPLES=5000`` (see
the README) runs each target much longer."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path

import pytest
import schemathesis
from conftest import make_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema

from bot.assistant import Assistant
from bot.embedding import SentenceTransformerEmbedder
from bot.knowledge import read_file
from bot.safety import CrisisDetector
from bot.web.app import create_app

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def api_schema(
    tmp_path_factory: pytest.TempPathFactory, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> OpenApiSchema:
    app = create_app(make_settings(tmp_path_factory.mktemp("fuzz"), index_dir, admin_token="fuzz-token"), embedder)
    # schemathesis runs the app's lifespan before the first call, so the model and index are loaded.
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_holds_to_its_own_schema(api_schema: OpenApiSchema, mode: GenerationMode) -> None:
    """Valid requests (positive) and invalid ones (negative) for every operation in /openapi.json.

    Every default check runs: no 5xx, documented status codes and content types, responses that match
    their schemas, invalid data refused and valid data accepted."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/chat", "/api/search", "/api/feedback"}
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: schemathesis.Case) -> None:
            response = case.call()
            if response.status_code == 413:
                # A generated body over the 16 KiB limit is refused before it is read: a rejection
                # that schemathesis's list of rejection codes does not include.
                assert response.json()["detail"].startswith("the request body is larger than")
                return
            case.validate_response(response)

        try:
            call()
        except Unsatisfiable:
            # An operation that takes no input (GET /healthz) has no invalid request to make.
            assert mode is GenerationMode.NEGATIVE, operation.path


# Text that looks enough like a knowledge file to reach deep into the parser.
LINE = st.one_of(
    st.sampled_from(
        [
            "---",
            "title: Ketamine",
            "status: approved",
            "status: draft",
            "reviewed_on: 2024-05-01",
            "reviewed_on: tomorrow",
            "source: clinic",
            "# Heading",
            "## Sub heading",
            "",
            "- a list item",
            "<!-- questions",
            "-->",
            "- Is it safe?",
            "Ketamine is a medicine used in anaesthesia and, at low doses, for depression:",
            "```",
            "> quoted",
            "title: [unclosed",
            "key: {a: b}",
            "\t",
        ]
    ),
    st.text(max_size=80),
)
DOCUMENT = st.one_of(st.lists(LINE, max_size=40).map("\n".join), st.text(max_size=500))


@FUZZ
@given(DOCUMENT)
def test_the_knowledge_parser_never_raises_and_keeps_passages_verbatim(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.md"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            source = None
        result, problems = read_file(path, "fuzz.md", dt.date(2025, 1, 1))
    if result is None:
        assert any(p.severity == "error" for p in problems)
        return
    for passage in result.passages:
        assert source is not None
        assert all(part in source for part in passage.text.split("\n\n"))
    for problem in problems:
        assert problem.line >= 1


@pytest.fixture(scope="module")
def crisis(assistant: Assistant) -> CrisisDetector:
    return assistant.crisis


CRISIS_WORDS = st.sampled_from(
    ["kill", "myself", "suicide", "end it", "overdose", "how many", "pills", "quiero morir", "k1ll", "m y s e l f"]
)
MESSAGE = st.one_of(
    st.text(max_size=500),
    st.lists(st.one_of(CRISIS_WORDS, st.text(max_size=12)), max_size=30).map(" ".join),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Mn", "So"]), max_size=200),
)


# Each check embeds the message (a sentence at a time), so this target runs fewer examples.
@settings(FUZZ, max_examples=max(10, EXAMPLES // 3))
@given(MESSAGE)
def test_the_crisis_matcher_never_raises(crisis: CrisisDetector, message: str) -> None:
    verdict = crisis.check(message)
    assert isinstance(verdict.crisis, bool)
    assert isinstance(verdict.reason, str)


LOCAL = st.from_regex(r"[a-z][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True)
DOMAIN = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]\.(com|org|net|io|co\.uk)", fullmatch=True)
EMAIL = st.builds(lambda local, domain: f"{local}@{domain}", LOCAL, DOMAIN)
PHONE = st.from_regex(r"\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\+1 \d{3} \d{3} \d{4}", fullmatch=True)
FILLER = st.text(alphabet=st.characters(categories=["L", "Zs", "P"], exclude_characters="@"), max_size=60)


def _redact():  # type: ignore[no-untyped-def]
    try:
        from bot.redaction import redact
    except ImportError:
        pytest.skip("bot/redaction.py (the question log's redactor) does not exist yet")
    return redact


@FUZZ
@given(st.text(max_size=500))
def test_the_redactor_never_raises(text: str) -> None:
    assert isinstance(_redact()(text), str)


@FUZZ
@given(FILLER, st.one_of(EMAIL, PHONE), FILLER)
def test_the_redactor_removes_planted_emails_and_phone_numbers(before: str, secret: str, after: str) -> None:
    redacted = _redact()(f"{before} {secret} {after}")
    assert secret not in redacted
    if "@" not in secret:  # a phone number: not even its last seven digits may survive
        digits = re.sub(r"\D", "", secret)
        assert digits[-7:] not in re.sub(r"\D", "", redacted)
