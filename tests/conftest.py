import base64

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from smsportal.api.ratelimit import limiter

from .factories import AccountFactory, MemberFactory, SubaccountFactory, UserFactory, api_key_for


def pytest_configure(config):
    from django.conf import settings

    # Tests make users by the thousand: PBKDF2's million rounds cost about a second each on this machine, so the
    # fast hasher, as Django's testing docs advise. Production keeps the default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip = pytest.mark.skip(reason="needs PostgreSQL row locks and concurrent connections; runs in CI's second pass")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_rate_limits_and_cache():
    """Throttle windows and cached values must not leak from one test into the next."""
    limiter().reset()
    yield
    limiter().reset()


@pytest.fixture
def clear_cache(db):
    cache.clear()
    yield


@pytest.fixture
def main_account(db):
    return AccountFactory()


@pytest.fixture
def sub_account(main_account):
    return SubaccountFactory(parent=main_account)


class KeyClient(APIClient):
    """An API client authenticated with an account's API key over HTTP Basic."""

    def __init__(self, account, raw_key, **kwargs):
        super().__init__(**kwargs)
        self.account = account
        self.raw_key = raw_key
        token = base64.b64encode(f"{account.api_username}:{raw_key}".encode()).decode()
        self.credentials(HTTP_AUTHORIZATION=f"Basic {token}")


@pytest.fixture
def api_for():
    def make(account):
        return KeyClient(account, api_key_for(account))

    return make


@pytest.fixture
def admin_user(main_account):
    return MemberFactory(account=main_account).user


@pytest.fixture
def user_with_role(main_account):
    def make(role, account=None):
        return MemberFactory(account=account or main_account, role=role, user=UserFactory()).user

    return make


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"
