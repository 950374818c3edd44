import secrets

from django.core.management.base import BaseCommand

from smsportal.accounts import services
from smsportal.accounts.models import Account

DEMO_EMAIL = "demo@example.com"
DEMO_API_USERNAME = "demo"


class Command(BaseCommand):
    help = "Create the demo account on first run and print its login and API credentials (once)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000")

    def handle(self, *args, **opts):
        url = opts["url"].rstrip("/")
        if Account.objects.filter(api_username=DEMO_API_USERNAME).exists():
            self.stdout.write(
                f"Demo account exists: log in at {url}/login/ as {DEMO_EMAIL} with the password printed on first "
                "run (or `python manage.py changepassword demo@example.com`); rotate its API key under Settings."
            )
            return
        password = secrets.token_urlsafe(9)
        account, _user, api_key = services.account_create(
            name="Demo Company", email=DEMO_EMAIL, password=password, api_username=DEMO_API_USERNAME, credit="100"
        )
        services.subaccount_create(
            parent=account, api_username="demo-marketing", name="Demo Marketing", email="marketing@example.com"
        )
        bar = "=" * 72
        self.stdout.write(
            f"\n{bar}\n smsportal demo account created (shown once; keep it)\n{bar}\n"
            f"  Log in:        {url}/login/\n"
            f"  Email:         {DEMO_EMAIL}\n"
            f"  Password:      {password}\n"
            f"  API username:  {DEMO_API_USERNAME}\n"
            f"  API key:       {api_key}\n"
            f"  Try:           curl -u {DEMO_API_USERNAME}:{api_key} {url}/v3/account\n{bar}\n"
        )
