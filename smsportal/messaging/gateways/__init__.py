"""Gateway plug-ins, one module per provider; the registry is the SMS_GATEWAYS setting."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from .base import Gateway


@cache
def registry() -> dict[str, type[Gateway]]:
    classes = [import_string(path) for path in settings.SMS_GATEWAYS]
    return {cls.kind: cls for cls in classes}


def gateway_class(kind: str) -> type[Gateway]:
    try:
        return registry()[kind]
    except KeyError:
        raise LookupError(f"No gateway of kind {kind!r}; known: {', '.join(sorted(registry()))}") from None
