"""Every URL pattern the project serves, read from the resolver, so a new URL cannot slip past the matrices.

`all_routes()` walks `get_resolver()`; each Route knows its namespaced name, the parameters its pattern captures
(path converters and regex groups alike), and the HTTP methods its view accepts (DRF viewsets' action maps,
APIViews' handlers, Django's `require_http_methods` closures; GET and POST when a function view says nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from django.urls import URLPattern, URLResolver, get_resolver, reverse

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_OPTIONAL_GROUP = re.compile(r"\(\?:[^()]*\(\?P<(\w+)>[^()]*\)[^()]*\)\?")


@dataclass(frozen=True)
class Route:
    pattern: str  # the full pattern as written, prefixes included: what a failure message shows
    name: str  # "namespace:name", reversible
    params: tuple[str, ...]  # everything the pattern captures, in order
    optional: frozenset[str]  # captured by an optional regex group
    callback: object

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("v3/")

    @property
    def is_hook(self) -> bool:
        return self.pattern.startswith("hooks/")

    @property
    def is_admin(self) -> bool:
        return self.pattern.startswith("admin/")

    @property
    def methods(self) -> tuple[str, ...]:
        return view_methods(self.callback)

    def url(self, **kwargs) -> str:
        return reverse(self.name, kwargs=kwargs)

    def __str__(self):
        return self.pattern


def _params(pattern) -> tuple[tuple[str, ...], frozenset[str]]:
    converters = getattr(pattern, "converters", None)
    if converters:  # a path() pattern
        return tuple(converters), frozenset()
    regex = getattr(pattern, "regex", None)
    if regex is None or not regex.groupindex:
        return (), frozenset()
    names = tuple(sorted(regex.groupindex, key=regex.groupindex.get))
    return names, frozenset(_OPTIONAL_GROUP.findall(str(pattern)))


def _walk(patterns, prefix: str, namespace: str, params: tuple, optional: frozenset):
    for entry in patterns:
        own, own_optional = _params(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = ":".join(filter(None, (namespace, entry.namespace)))
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns, params + own, optional | own_optional)
        elif isinstance(entry, URLPattern):
            name = ":".join(filter(None, (namespace, entry.name))) if entry.name else ""
            yield Route(prefix + str(entry.pattern), name, params + own, optional | own_optional, entry.callback)


@cache
def all_routes() -> tuple[Route, ...]:
    return tuple(_walk(get_resolver().url_patterns, "", "", (), frozenset()))


def _declared_methods(func) -> tuple[str, ...] | None:
    """The method list a `require_http_methods` (require_POST, require_GET, …) somewhere in the wrapper chain holds."""
    seen = set()
    while func is not None and id(func) not in seen:
        seen.add(id(func))
        for cell in getattr(func, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if isinstance(value, (list, tuple)) and value and all(m in HTTP_METHODS + ("HEAD",) for m in value):
                return tuple(m for m in value if m in HTTP_METHODS)
        func = getattr(func, "__wrapped__", None)
    return None


def view_methods(callback) -> tuple[str, ...]:
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route: {"get": "retrieve", "put": "update", …}
        return tuple(m for m in HTTP_METHODS if m.lower() in actions)
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:  # an APIView or a Django class-based view
        return tuple(m for m in HTTP_METHODS if m.lower() in cls.http_method_names and hasattr(cls, m.lower()))
    return _declared_methods(callback) or ("GET", "POST")
