import pytest


@pytest.fixture
def account(main_account):
    """The workspace under test; national numbers read as Australian."""
    main_account.default_region = "AU"
    main_account.save(update_fields=["default_region"])
    return main_account


@pytest.fixture
def admin_client(client, admin_user, account):
    client.force_login(admin_user)
    return client
