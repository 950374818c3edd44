"""Which gateway connection carries a message: the first enabled one, by priority, that serves its country
and is not being skipped after a run of temporary failures (failover). It recovers after a cooldown."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from smsportal.accounts.models import Account

from .gateways import gateway_class
from .gateways.base import Gateway
from .models import GatewayConnection


def connections_for(account_id: int) -> list[GatewayConnection]:
    """The workspace's own connections, else its main account's; a workspace with none sends via the sandbox."""
    own = list(GatewayConnection.objects.filter(account_id=account_id))
    if own:
        return own
    parent_id = Account.objects.filter(pk=account_id).values_list("parent_id", flat=True).first()
    if parent_id:
        inherited = list(GatewayConnection.objects.filter(account_id=parent_id))
        if inherited:
            return inherited
    with transaction.atomic():
        # A new workspace's first sends can arrive together: the account's row lock lets one of them create the
        # sandbox while the others wait and find it (get_or_create without a unique key would create one each).
        list(Account.objects.select_for_update().filter(pk=account_id).values_list("pk", flat=True))
        own = list(GatewayConnection.objects.filter(account_id=account_id))
        if own:
            return own
        return [GatewayConnection.objects.create(
            account_id=account_id, kind=GatewayConnection.Kind.SANDBOX, name="Sandbox",
            config={"dlr_delay": settings.SANDBOX_DLR_DELAY},
        )]


class Router:
    """Routes for one account within one dispatch or acceptance pass (connections read once)."""

    def __init__(self, account_id: int, *, now=None):
        self.now = now or timezone.now()
        self.connections = sorted(connections_for(account_id), key=lambda c: (c.priority, c.id))

    def can_route(self, country: str) -> bool:
        """Is there any enabled connection for the country, failing or not (acceptance asks this)."""
        return any(c.enabled and c.serves(country) for c in self.connections)

    def route(self, country: str) -> GatewayConnection | None:
        """The connection to try now; None when every one serving the country is being skipped."""
        for connection in self.connections:
            if connection.enabled and connection.serves(country) and not self._skipped(connection):
                return connection
        return None

    def next_open_at(self, country: str):
        """When a skipped connection for the country may be tried again."""
        times = [c.skipped_until for c in self.connections if c.enabled and c.serves(country) and c.skipped_until]
        return min(times) if times else None

    def _skipped(self, connection: GatewayConnection) -> bool:
        return connection.skipped_until is not None and connection.skipped_until > self.now


def gateway_for(connection: GatewayConnection) -> Gateway:
    from .selectors import webhook_urls  # the URLs come from settings; kept next to their other readers

    urls = webhook_urls(connection)
    return gateway_class(connection.kind)(
        config=connection.config,
        credentials=connection.credentials,
        status_webhook_url=urls["status_webhook_url"],
        inbound_webhook_url=urls["inbound_webhook_url"],
        webhook_secret=connection.webhook_secret,
    )


def record_health(connection: GatewayConnection, *, accepted: int, temporary: int) -> None:
    """Update the failure streak after a submission; past the threshold the connection is skipped a while.

    `connection` is as routing read it: a healthy one that keeps accepting costs no write."""
    connection_id = connection.pk
    if accepted:
        if connection.failure_streak or connection.skipped_until:
            GatewayConnection.objects.filter(pk=connection_id).update(failure_streak=0, skipped_until=None)
            connection.failure_streak, connection.skipped_until = 0, None
        return
    if not temporary:
        return
    GatewayConnection.objects.filter(pk=connection_id).update(failure_streak=F("failure_streak") + temporary)
    connection.failure_streak += temporary  # so the next acceptance knows there is a streak to clear
    skip_until = timezone.now() + timedelta(seconds=settings.GATEWAY_FAILOVER_COOLDOWN)
    GatewayConnection.objects.filter(
        pk=connection_id, failure_streak__gte=settings.GATEWAY_FAILOVER_THRESHOLD
    ).update(skipped_until=skip_until, failure_streak=0)
