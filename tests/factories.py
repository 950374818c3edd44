from decimal import Decimal

import factory

from smsportal.accounts import services
from smsportal.accounts.models import Account, Member, Role, User

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Company {n}")
    api_username = factory.Sequence(lambda n: f"company{n}")
    email = factory.LazyAttribute(lambda o: f"{o.api_username}@example.test")
    balance = Decimal("0")


class SubaccountFactory(AccountFactory):
    parent = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Subaccount {n}")
    api_username = factory.Sequence(lambda n: f"sub{n}")


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    account = factory.SubFactory(AccountFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ADMIN


def api_key_for(account: Account) -> str:
    """Issue a fresh key for the account (the only way to learn one: keys are stored hashed)."""
    return services.api_key_rotate(account=account)
