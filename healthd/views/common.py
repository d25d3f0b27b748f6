"""What every health view shares: JSON answers that never carry a traceback."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from healthd.redact import redact

logger = logging.getLogger("healthd.views")


def json_response(data: object, status: int = 200,
                  content_type: str = "application/json") -> HttpResponse:
    return HttpResponse(json.dumps(data, default=str), status=status, content_type=content_type)


def never_raise(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn an unexpected exception into a JSON 500 naming its class; log the detail."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Exception as exc:
            logger.error("health view %s failed: %s: %s", view.__name__, type(exc).__name__,
                         redact(exc))
            return json_response(
                {"status": "error", "error": f"internal error ({type(exc).__name__})"}, 500
            )

    return wrapper
