from django.http import HttpResponse
from django.urls import include, path


def trivial(request):
    """The yardstick: a Django view that does nothing."""
    return HttpResponse(b'{"status": "ok"}', content_type="application/json")


async def trivial_async(request):
    """The yardstick under ASGI: a coroutine view that does nothing."""
    return HttpResponse(b'{"status": "ok"}', content_type="application/json")


urlpatterns = [
    path("trivial", trivial),
    path("trivial-async", trivial_async),
    path("", include("healthd.urls")),
]
