"""Who may see the uptime page and the badges, and how long a cache may keep them.

Open to anyone with ``HEALTHD["PUBLIC_STATUS_PAGE"]``, else only to callers who may see
details (DEBUG, ``HEALTHD["PUBLIC_DETAILS"]`` or a valid token); others get a 403. A public
answer may be kept by shared caches, a private one only by the caller's.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from healthd import conf
from healthd.http.auth import may_see_details
from healthd.http.responses import Refusal


def public_status_page() -> bool:
    """``HEALTHD["PUBLIC_STATUS_PAGE"]``: the page and badges are open to anyone."""
    return conf.get().public_status_page


def visible_or_refused(request: HttpRequest) -> bool:
    """Whether the answer is public; refused with a 403 when the caller may not see it."""
    if public_status_page():
        return True
    if may_see_details(request):
        return False
    raise Refusal(403, "forbidden: the status page is not public (HEALTHD"
                       "[\"PUBLIC_STATUS_PAGE\"]); a valid token is required")


def cache_control(response: HttpResponse, public: bool, seconds: int) -> HttpResponse:
    response["Cache-Control"] = f"{'public' if public else 'private'}, max-age={seconds}"
    return response
