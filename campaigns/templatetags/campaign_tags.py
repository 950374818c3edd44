from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """mapping[key] in a template (None when absent)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def percent(value, digits: int = 1) -> str:
    """0.9731 → "97.3 %"; None → "—"."""
    if value is None:
        return "—"
    digits = int(digits)
    shown = round(value * 100, digits)
    if shown == 100 and value < 1:  # 9,997 of 9,999 is not 100 %
        shown = 100 - 10 ** -digits
    return f"{shown:.{digits}f} %"
