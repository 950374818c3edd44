from decimal import Decimal

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


@register.filter
def money(value) -> str:
    """At least cents, and every fraction of a cent the ledger holds (12.3456 stays 12.3456, 40 shows 40.00)."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value))
    text = f"{amount:.4f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{intcomma(whole)}.{fraction.ljust(2, '0')}"
