"""``/dashboard/...``: each dashboard module keeps its own URL list; the section menu
(``web/dashboard/base.html``) links to each by name."""

from django.urls import include, path

from studiobook.web.dashboard import board, manage, reports

urlpatterns = [
    path("", board.index, name="dashboard-index"),
    path("<slug:slug>/", include(board.urlpatterns)),
    path("<slug:slug>/", include(manage.urlpatterns)),
    path("<slug:slug>/", include(reports.urlpatterns)),
]
