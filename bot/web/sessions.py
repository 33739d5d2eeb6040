"""The admin area's sessions and its guards for browsers: a session lives in the database (signing out
ends it on every replica), only the area's own pages may change anything, and its cookies are ``Secure``
whenever the site is served over HTTPS.

The cookie holds a random value; the database keeps only an HMAC of it keyed with the admin token, so
neither a copy of the database nor a guessed cookie opens a session, and changing the token ends them all.

A form on another site can make an editor's browser post to ``/admin/...`` with the editor's cookie.
Browsers say where a request comes from: ``Sec-Fetch-Site`` (every current browser) and ``Origin`` (on
every POST); a state-changing request that either names another site is refused with 403. A request
with neither header is not from a browser (``faqbot reload``, curl) and carries the token itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from bot.settings import Settings
from bot.storage import Storage

SESSION_SECONDS = 8 * 60 * 60
MAX_COOKIE = 100  # a cookie longer than any this code sets is not one of ours
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE = frozenset({"same-origin", "none"})  # "none": typed in the address bar, or a bookmark
OTHER_SITE = "refused: this request comes from another site's page, not from the dashboard"


def from_own_pages(request: Request) -> bool:
    """Whether a request that changes something comes from this site's own pages (or from no browser).

    ``Sec-Fetch-Site`` is asked first: the browser sets it, and a reverse proxy that rewrites ``Host``
    does not confuse it. Without it, ``Origin`` must name the host the request was sent to."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site.strip().lower() in SAME_SITE
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin.strip()).netloc.lower() == request.headers.get("host", "").strip().lower() != ""


async def refuse_other_sites(request: Request) -> None:
    """A dependency of every ``/admin`` route: 403 for a state-changing request from another site."""
    if request.method not in SAFE_METHODS and not from_own_pages(request):
        raise HTTPException(403, OTHER_SITE)


def secure_cookie(request: Request) -> bool:
    """``Secure`` when the request came over HTTPS (as a trusted proxy reports it through
    ``X-Forwarded-Proto``, see ``FAQBOT_TRUSTED_PROXIES``), or always with ``FAQBOT_SECURE_COOKIES``."""
    settings: Settings = request.app.state.settings
    return settings.secure_cookies or request.url.scheme == "https"


def _key(token: str, value: str) -> str:
    return hmac.new(token.encode(), f"faqbot-admin-session:{value}".encode(), hashlib.sha256).hexdigest()


def open_session(storage: Storage, token: str) -> str:
    """A new session; returns the cookie's value."""
    value = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=SESSION_SECONDS)
    storage.open_session(_key(token, value), expires)
    return value


def valid_session(storage: Storage, token: str, value: str) -> bool:
    """Whether ``value`` is an open session's cookie. Anything else, however malformed, is simply not one."""
    return 0 < len(value) <= MAX_COOKIE and storage.session_open(_key(token, value))


def end_session(storage: Storage, token: str, value: str) -> None:
    if 0 < len(value) <= MAX_COOKIE:
        storage.end_session(_key(token, value))
