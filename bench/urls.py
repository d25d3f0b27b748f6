from django.http import HttpResponse
from django.urls import include, path


def trivial(request):
    """The yardstick: a Django view that does nothing."""
    return HttpResponse(b'{"status": "ok"}', content_type="application/json")


urlpatterns = [
    path("trivial", trivial),
    path("", include("healthd.urls")),
]
