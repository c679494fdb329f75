from django.urls import path

from studiobook.web.public import views

urlpatterns = [
    path("", views.home, name="home"),
    path("studios/<slug:slug>/", views.studio_home, name="studio"),
    path("studios/<slug:slug>/availability", views.availability, name="availability"),
    path("studios/<slug:slug>/book", views.book, name="book"),
    path("studios/<slug:slug>/policies", views.policies, name="policies"),
    path("holds/<str:token>", views.hold, name="hold"),
    path("holds/<str:token>/release", views.release_hold, name="hold-release"),
    path("bookings/<str:code>/pay", views.pay, name="pay"),
]
