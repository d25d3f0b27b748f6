from django.contrib import admin
from django.urls import include, path

from tests.site import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("tests/plain/", views.plain),
    path("tests/slow/", views.slow),
    path("", include("healthd.urls")),
]
