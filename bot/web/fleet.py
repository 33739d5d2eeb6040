"""The dashboard's table of replicas, with ``FAQBOT_RELEASES=database``: which release each replica
serves and since when, and the releases replicas refused, with the reason.

The dashboard's template asks for it (``fleet_of(request)``), so the dashboard's route needs to know
nothing of releases kept in the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from bot.release_store import Refusal, ReleaseStore, ReplicaState
from bot.web.deps import templates

log = logging.getLogger("bot")


@dataclass(frozen=True)
class Fleet:
    current: str | None
    replicas: list[ReplicaState]
    refusals: list[Refusal]
    unavailable: bool = False  # the database could not be read


def fleet_of(request: Request) -> Fleet | None:
    """The fleet as the database records it; None when releases are not kept in the database."""
    store: ReleaseStore | None = request.app.state.releases
    if store is None:
        return None
    try:
        return Fleet(store.current(), store.fleet(), store.refusals(10))
    except SQLAlchemyError as error:
        log.warning("the dashboard cannot read the replicas: %s", str(error).splitlines()[0])
        return Fleet(None, [], [], unavailable=True)


def utc(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def install() -> None:
    """Let the admin templates ask for the fleet."""
    templates.env.globals["fleet_of"] = fleet_of
    templates.env.globals["utc"] = utc
