"""The admin area's guards for browsers: only its own pages may change anything, and its cookies are
``Secure`` whenever the site is served over HTTPS.

A form on another site can make an editor's browser post to ``/admin/...`` with the editor's cookie.
Browsers say where a request comes from: ``Sec-Fetch-Site`` (every current browser) and ``Origin`` (on
every POST); a state-changing request that either names another site is refused with 403. A request
with neither header is not from a browser (``faqbot reload``, curl) and carries the token itself.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from bot.settings import Settings

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
