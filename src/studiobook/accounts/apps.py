from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "studiobook.accounts"
    label = "accounts"
