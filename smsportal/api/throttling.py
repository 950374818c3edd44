import math

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from smsportal.accounts.permissions import Access

from .ratelimit import limiter


class AccountRateThrottle(BaseThrottle):
    """Requests per second per account (Account.api_rate_limit); anonymous callers per client address."""

    window = 1.0

    def allow_request(self, request, view):
        access = request.auth if isinstance(request.auth, Access) else None
        if access is not None:
            key, limit = f"account:{access.account.pk}", access.account.api_rate_limit
        else:
            key, limit = f"ip:{self.get_ident(request)}", settings.API_DEFAULT_RATE_LIMIT
        self.retry_after = limiter().hit(key, limit=limit, window=self.window)
        return self.retry_after <= 0

    def wait(self):
        return max(1, math.ceil(self.retry_after))
