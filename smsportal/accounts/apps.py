from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "smsportal.accounts"
    label = "accounts"
    verbose_name = "Accounts"
