"""What the routers share: the assistant (or 503 while the index loads), the settings and storage as
FastAPI dependencies, and the one set of templates every page is rendered from."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from bot.assistant import Assistant
from bot.safety import CRISIS_LINES
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import Storage

WEB = PROJECT_ROOT / "web"
STATIC_DIR = WEB / "static"
templates = Jinja2Templates(directory=WEB / "templates")  # autoescape is on for .html
templates.env.globals["crisis_lines"] = CRISIS_LINES  # every page says the same numbers as the API's notice
LOADING = "the index is still loading"


def current_assistant(request: Request) -> Assistant:
    """The assistant serving this app; 503 while the index is still loading."""
    assistant: Assistant | None = request.app.state.assistant
    if assistant is None:
        raise HTTPException(503, LOADING)
    return assistant


# The dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker
# thread, and four thread hand-offs per request cost more than answering a repeated question.
async def get_assistant(request: Request) -> Assistant:
    return current_assistant(request)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
StorageDep = Annotated[Storage, Depends(get_storage)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
