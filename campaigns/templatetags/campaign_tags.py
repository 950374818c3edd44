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
    return f"{value * 100:.{int(digits)}f} %"
