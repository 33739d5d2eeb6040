"""Knowledge files: Markdown with front matter, read into verbatim passages and checked.

A file is YAML front matter between ``---`` lines, then Markdown. Each heading opens a section. A
passage is a run of paragraphs (a list counts as one) in a section, returned exactly as written: it
ends at the next heading, at a ``<!-- questions ... -->`` comment, or at any other comment or rule.
The questions comment lists alternate phrasings for the passage above it: they help retrieval and are
never shown. So the editor decides where each passage ends by where they put its questions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt

from bot.text import yaml_error

REQUIRED_FIELDS = ("title", "status", "reviewed_on")
OPTIONAL_FIELDS = ("source", "reviewed_by", "audience")
STATUSES = ("approved", "draft")
LONG_PASSAGE_WORDS = 150
QUESTIONS_OPEN = "<!-- questions"
QUESTIONS_CLOSE = "-->"
# A paragraph an import found not to be medical information, kept out of the passages for the editor.
FLAGGED_OPEN = "<!-- flagged:"
# What ``check`` groups warnings by: a kind and how to name one of them and several.
WARNING_KINDS = {
    "long": ("long passage", "long passages"),
    "field": ("unknown front matter field", "unknown front matter fields"),
    "stale": ("file not reviewed lately", "files not reviewed lately"),
    "calibration": ("scope calibration fitted on other content", "scope calibrations fitted on other content"),
    "phrasing": ("alternate question closer to another section", "alternate questions closer to another section"),
    "flagged": ("line flagged as not medical information", "lines flagged as not medical information"),
}


class _FrontMatterLoader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text, so a bad one (2026-13-45) is reported on its line, not raised."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a knowledge file, reported as ``path:line: message``."""

    path: str
    line: int
    message: str
    severity: str = "error"
    kind: str = ""  # a warning's key in WARNING_KINDS

    def __str__(self) -> str:
        label = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.path}:{self.line}: {label}{self.message}"


@dataclass(frozen=True)
class Passage:
    """A verbatim unit of vetted text under one heading, with what helps find it."""

    id: str
    text: str
    section: str
    title: str
    path: str
    line: int
    questions: tuple[str, ...] = ()
    headings: tuple[str, ...] = ()  # the heading trail above the section, outermost first


@dataclass(frozen=True)
class KnowledgeFile:
    path: str
    title: str
    status: str
    reviewed_on: dt.date | None
    passages: tuple[Passage, ...]

    @property
    def approved(self) -> bool:
        return self.status == "approved"


@dataclass
class _Draft:
    """A passage being assembled while reading a section."""

    paragraphs: list[str]
    line: int  # 1-based first line
    end: int  # 0-based end (exclusive) of its last paragraph
    questions: list[str] = field(default_factory=list)
    # A comment or rule after it ends it: what follows is not glued on, so its text stays one verbatim span.
    closed: bool = False


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "section"


def word_count(text: str) -> int:
    return len(text.split())


def read_file(path: Path, display: str, today: dt.date) -> tuple[KnowledgeFile | None, list[Problem]]:
    """Parse one knowledge file. Returns ``None`` with errors when it cannot be used."""
    problems: list[Problem] = []

    def problem(line: int, message: str, severity: str = "error", kind: str = "") -> None:
        problems.append(Problem(display, line, message, severity, kind))

    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        problem(1, f"not UTF-8 text ({error.reason})")
        return None, problems
    lines = source.splitlines()
    meta, body_start = _front_matter(lines, problem)
    if meta is None:
        return None, problems
    title, status, reviewed_on = _check_meta(meta, lines, today, problem)
    passages = _passages(lines, body_start, display, str(title), problem)
    if status == "approved" and not passages and not any(p.severity == "error" for p in problems):
        # Nothing to serve from it, and an index of nothing answers nobody: say so before it is built.
        problem(body_start, "the file is approved but has no passages: write text under a heading, or make it a draft")
    if any(p.severity == "error" for p in problems):
        return None, problems
    return KnowledgeFile(display, str(title), str(status), reviewed_on, tuple(passages)), problems


def _front_matter(lines: list[str], problem: Any) -> tuple[dict[str, Any] | None, int]:
    if not lines or lines[0].strip() != "---":
        problem(1, "missing front matter: the file must start with a '---' line")
        return None, 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        problem(1, "front matter is not closed: add a '---' line after it")
        return None, 0
    try:
        meta = yaml.load("\n".join(lines[1:end]), Loader=_FrontMatterLoader) or {}  # a SafeLoader
    except yaml.YAMLError as error:
        # YAML reports a broken quote where it gives up, often lines below: say it where the quote opens.
        quote = next(
            ((number, message) for number in range(1, end) if (message := _quote_problem(lines[number]))), None
        )
        if quote is not None:
            problem(quote[0] + 1, quote[1])
            return None, 0
        line, message = yaml_error(error)
        problem(line + 1, f"front matter is not valid YAML: {message}")  # the YAML starts on line 2
        return None, 0
    if not isinstance(meta, dict):
        problem(2, "front matter must be 'key: value' lines")
        return None, 0
    return meta, end + 1


def _quote_problem(line: str) -> str | None:
    """In plain words, what is wrong with a ``key: "value"`` line whose quotes do not hold the value."""
    match = re.match(r"\s*([^:#\s][^:]*):\s+(['\"])", line)
    if match is None:
        return None
    key, quote = match.group(1).strip(), match.group(2)
    value = line[match.end() :]
    index = 0
    while index < len(value):
        char = value[index]
        if quote == '"' and char == "\\":
            index += 2
            continue
        if char == quote:
            if quote == "'" and value[index + 1 : index + 2] == "'":  # '' is a ' inside single quotes
                index += 2
                continue
            rest = value[index + 1 :].strip()
            if not rest or rest.startswith("#"):
                return None
            inside = "double the ' inside it ('')" if quote == "'" else "put it in single quotes instead"
            return (
                f"the value of '{key}' ends at its second quote ({quote}) and more text follows: "
                f"write it without the quotes, or {inside}"
            )
        index += 1
    return (
        f"the value of '{key}' opens a quote ({quote}) that this line never closes: "
        f"end the value with {quote}, or write it without quotes"
    )


def _key_line(lines: list[str], key: str) -> int:
    for number, line in enumerate(lines, start=1):
        if line.startswith(f"{key}:"):
            return number
        if number > 1 and line.strip() == "---":
            break
    return 1


def _check_meta(
    meta: dict[str, Any], lines: list[str], today: dt.date, problem: Any
) -> tuple[object, object, dt.date | None]:
    for key in REQUIRED_FIELDS:
        if meta.get(key) in (None, ""):
            if key == "reviewed_on" and meta.get("status") == "draft":
                continue  # a draft is not reviewed yet; approving it needs the date
            needs = ": give the date it was reviewed" if key == "reviewed_on" else ""
            problem(1, f"front matter lacks '{key}'{needs}")
    for key in meta:
        if key not in REQUIRED_FIELDS + OPTIONAL_FIELDS:
            problem(_key_line(lines, str(key)), f"unknown front matter field '{key}'", "warning", "field")
    status = meta.get("status")
    if status is not None and status not in STATUSES:
        problem(_key_line(lines, "status"), f"status must be 'approved' or 'draft', not {status!r}")
    reviewed = meta.get("reviewed_on")
    reviewed_on: dt.date | None = None
    if isinstance(reviewed, dt.datetime):
        reviewed = reviewed.date()
    if isinstance(reviewed, str):
        with contextlib.suppress(ValueError):
            reviewed = dt.date.fromisoformat(reviewed)
    if isinstance(reviewed, dt.date):
        reviewed_on = reviewed
        if reviewed > today:
            problem(_key_line(lines, "reviewed_on"), f"reviewed_on {reviewed} is in the future")
    elif reviewed is not None:
        problem(_key_line(lines, "reviewed_on"), f"reviewed_on must be an ISO date (YYYY-MM-DD), not {reviewed!r}")
    return meta.get("title"), status, reviewed_on


def _passages(lines: list[str], start: int, display: str, title: str, problem: Any) -> list[Passage]:
    body = "\n".join(lines[start:])
    tokens = MarkdownIt("commonmark").parse(body)
    stem = Path(display).stem
    passages: list[Passage] = []
    trail: list[tuple[int, str]] = []  # (level, heading) of the open headings
    drafts: list[_Draft] = []
    heading_line = start + 1
    seen_slugs: dict[str, int] = {}
    pending_questions: list[str] = []

    def close_section() -> None:
        if not trail:
            return
        section = trail[-1][1]
        if not drafts and not pending_questions:
            return
        if not drafts:
            problem(heading_line, f"questions under '{section}' have no passage to belong to")
        for number, draft in enumerate(drafts, start=1):
            passages.append(
                Passage(
                    id=f"{stem}#{slugify(section)}-{number}",
                    text="\n".join(lines[draft.line - 1 : draft.end]).strip(),
                    section=section,
                    title=title,
                    path=display,
                    line=draft.line,
                    questions=tuple(draft.questions),
                    headings=tuple(h for _, h in trail[:-1]),
                )
            )

    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.level != 0 or token.map is None:
            index += 1
            continue
        first, last = token.map[0] + start, token.map[1] + start
        if token.type == "heading_open":
            close_section()
            # A heading with nothing under it, and no subsection either, is an empty section.
            level = int(token.tag[1])
            if trail and not drafts and trail[-1][0] >= level:
                problem(heading_line, f"section '{trail[-1][1]}' is empty")
            heading = tokens[index + 1].content.strip()
            while trail and trail[-1][0] >= level:
                trail.pop()
            trail.append((level, heading))
            slug = slugify(heading)
            if slug in seen_slugs:
                problem(first + 1, f"heading '{heading}' repeats the one on line {seen_slugs[slug]}")
            seen_slugs[slug] = first + 1
            heading_line = first + 1
            drafts = []
            pending_questions = []
        elif token.type == "html_block" and token.content.lstrip().startswith(QUESTIONS_OPEN):
            questions = _questions(lines, first, last, problem, display)
            if drafts:
                drafts[-1].questions.extend(questions)
                drafts[-1].closed = True
            else:
                pending_questions.extend(questions)
        elif token.type in ("html_block", "hr"):
            # Other comments are notes for editors, never shown.
            if token.content.lstrip().startswith(FLAGGED_OPEN):
                why = re.search(r"\(([^)]*)\)", token.content.split("\n", 1)[0])
                message = (
                    f"flagged on import as not medical information ({why.group(1) if why else 'see the note'}): "
                    "it is not served while it is in the note; delete the note, or move the line out of it"
                )
                problem(first + 1, message, "warning", "flagged")
            if drafts:
                drafts[-1].closed = True
        else:
            text = "\n".join(lines[first:last]).strip()
            if not trail:
                problem(first + 1, "text before the first heading: put it under a heading")
            elif drafts and not drafts[-1].closed:
                drafts[-1].paragraphs.append(text)
                drafts[-1].end = last
            else:
                drafts.append(_Draft([text], first + 1, last, pending_questions))
                pending_questions = []
        index += 1
    if trail and not drafts:
        problem(heading_line, f"section '{trail[-1][1]}' is empty")
    close_section()
    for passage in passages:
        if word_count(passage.text) > LONG_PASSAGE_WORDS:
            problem(
                passage.line,
                f"passage has {word_count(passage.text)} words (over {LONG_PASSAGE_WORDS})",
                "warning",
                "long",
            )
    return passages


def _questions(lines: list[str], first: int, last: int, problem: Any, display: str) -> list[str]:
    """Read a ``<!-- questions`` block: one ``- question`` a line, closed by ``-->``.

    An unclosed block runs on, as Markdown reads it, to the next ``-->`` anywhere below or to the end
    of the file. A heading or another comment inside it means the editor forgot the ``-->``: that is
    one error, on the line where the block opens, not one for each line it swallowed."""
    block = lines[first:last]
    questions: list[str] = []
    found: list[tuple[int, str]] = []
    closed = False
    runs_into: int | None = None
    for number, raw in enumerate(block[1:], start=first + 2):
        line = raw.strip()
        if line == QUESTIONS_CLOSE:
            closed = True
            break
        if not line:
            continue
        if line.startswith(("#", "<!--")):
            runs_into = number
            break
        if QUESTIONS_CLOSE in line:
            found.append((number, "put the closing '-->' on a line of its own"))
            closed = True
            break
        if not line.startswith("- ") or not line[2:].strip():
            found.append((number, "each alternate question must be one line starting with '- '"))
            continue
        questions.append(line[2:].strip())
    if block[0].strip() != QUESTIONS_OPEN:
        problem(first + 1, "write the questions one a line below '<!-- questions'")
    if closed:
        for number, message in found:
            problem(number, message)
        return questions
    where = f"before line {runs_into}" if runs_into else "the block runs to the end of the file"
    problem(first + 1, f"questions block is not closed: end it with a '-->' line after its last question ({where})")
    return []


@dataclass(frozen=True)
class KnowledgeBase:
    """Every knowledge file in a folder, and the problems found in them."""

    files: tuple[KnowledgeFile, ...]
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def passages(self) -> list[Passage]:
        """The passages that may be shown: those of approved files."""
        return [p for f in self.files if f.approved for p in f.passages]


def load_knowledge(folder: Path, today: dt.date | None = None) -> KnowledgeBase:
    """Read every ``*.md`` file in ``folder`` (sorted by name) and check them together."""
    today = today or dt.date.today()
    files: list[KnowledgeFile] = []
    problems: list[Problem] = []
    paths = sorted(folder.glob("*.md")) if folder.is_dir() else []
    if not paths:
        problems.append(Problem(str(folder), 1, "no knowledge files (*.md) found"))
    for path in paths:
        knowledge_file, found = read_file(path, display_path(path), today)
        problems.extend(found)
        if knowledge_file is not None:
            files.append(knowledge_file)
    # Repeats matter within a file and among what is served: a draft revision of an approved file
    # naturally shares most of its passages and must not block the build.
    served: dict[str, Passage] = {}
    for knowledge_file in files:
        own: dict[str, Passage] = {}
        for passage in knowledge_file.passages:
            key = " ".join(passage.text.split()).casefold()
            earlier = own.setdefault(key, passage)
            if knowledge_file.approved and earlier is passage:
                earlier = served.setdefault(key, passage)
            if earlier is not passage:
                problems.append(
                    Problem(passage.path, passage.line, f"passage repeats the one at {earlier.path}:{earlier.line}")
                )
    if files and not any(f.approved for f in files):
        problems.append(Problem(str(folder), 1, "no file has 'status: approved', so there is nothing to index"))
    return KnowledgeBase(tuple(files), tuple(problems))


def display_path(path: Path) -> str:
    """A path as editors know it: relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
