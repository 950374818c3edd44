from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "smsportal.messaging"
    label = "messaging"
    verbose_name = "Messaging"
