import itertools

import pytest
from django.utils import timezone

from inbox import services
from smsportal.messaging.gateways.base import InboundSms
from smsportal.messaging.routing import connections_for

from ..messaging.conftest import funded  # noqa: F401  (the sandbox account fixture)

OUR_NUMBER = "+61400000555"
_ids = itertools.count(1)


@pytest.fixture
def sandbox(funded):  # noqa: F811
    return connections_for(funded.pk)[0]


@pytest.fixture
def receive(sandbox):
    """Deliver inbound SMS as the sandbox's webhook would, then run the worker; returns the worker's counts."""

    def deliver(*texts, sender="+61412345678", to=OUR_NUMBER, ids=None, apply=True, **part):
        messages = [
            InboundSms(sender=sender, to=to, body=text, gateway_message_id=(ids[i] if ids else f"IN{next(_ids)}"),
                       at=timezone.now(), raw={"body": text}, **part)
            for i, text in enumerate(texts)
        ]
        services.inbound_receive(connection=sandbox, messages=messages)
        return services.inbound_apply() if apply else None

    return deliver
