from django.core.management.base import BaseCommand, CommandError

from smsportal.accounts.models import Account
from smsportal.messaging.stats import stats_rebuild


class Command(BaseCommand):
    help = ("Recompute the message stats (the rollup reports read) from the messages themselves: every account's, "
            "or one account's with --account. Safe while the portal runs.")

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, default=None, metavar="ID", help="Only this account")

    def handle(self, *args, **opts):
        account_id = opts["account"]
        if account_id is not None and not Account.objects.filter(pk=account_id).exists():
            raise CommandError(f"No account with id {account_id}.")
        groups = stats_rebuild(account_id=account_id)
        scope = f"account {account_id}" if account_id is not None else "every account"
        self.stdout.write(f"Rebuilt message stats for {scope}: {groups} groups.")
