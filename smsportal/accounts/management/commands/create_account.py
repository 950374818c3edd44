import json

from django.core.management.base import BaseCommand, CommandError

from smsportal.accounts import services
from smsportal.errors import DomainError


class Command(BaseCommand):
    help = "Create a top-level account with an admin user; prints account_id, api_username and api_key as JSON."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--credit", default="0", help="Opening credit in the account's currency")
        parser.add_argument("--api-username", default=None, help="Defaults to a slug of NAME")
        parser.add_argument("--region", default="US", help="Default region for national phone numbers")
        parser.add_argument("--timezone", default="UTC")
        parser.add_argument("--currency", default="USD")

    def handle(self, *args, **opts):
        try:
            account, _user, api_key = services.account_create(
                name=opts["name"],
                email=opts["email"],
                password=opts["password"],
                api_username=opts["api_username"],
                credit=opts["credit"],
                default_region=opts["region"],
                timezone_name=opts["timezone"],
                currency=opts["currency"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.field or 'error'}: {exc.message}") from None
        self.stdout.write(
            json.dumps({"account_id": account.pk, "api_username": account.api_username, "api_key": api_key})
        )
