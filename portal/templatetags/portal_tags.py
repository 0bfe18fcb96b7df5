from decimal import Decimal

from django import template

from portal import figures

register = template.Library()


@register.filter
def percent(value, digits=1):
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def usd(value):
    if value is None:
        return "–"
    value = Decimal(value)
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:,.4f}"


@register.filter
def bytes_human(value):
    return figures.human_bytes(value or 0)


@register.filter
def intcomma(value):
    return f"{int(value or 0):,}"


@register.filter
def get_item(mapping, key):
    return mapping.get(key)


@register.filter
def plain_decimal(value):
    """0.09000 -> 0.09 (prices are stored with fixed decimal places)."""
    return "–" if value is None else f"{Decimal(value).normalize():f}"
