"""A campaign's content compiled once: its variants' templates, who gets which, and each recipient's body.

The preview, the launch, a retry and a test send all render through `Plan.render`, so a recipient's body is the
same everywhere: spin first (choices from campaigns/assign.py), then merge (contact data is never spun).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from contacts.services import TEXT_FIELDS
from smsportal.messaging import merge, spintax

from . import assign

# Merge fields every contact has; custom fields add their keys (as {{key}} or {{fields.key}}).
CONTACT_FIELDS = ("phone_number", "country", *TEXT_FIELDS)
LABELS = "ABCDEFGHIJ"
MAX_VARIANTS = len(LABELS)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    position: int | None = None
    label: str = ""  # the variant it is in, if any


@dataclass(frozen=True)
class VariantSpec:
    label: str
    body: str
    split: int


@dataclass(frozen=True)
class CompiledVariant:
    label: str
    body: str
    split: int
    template: spintax.Template

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.template.sizes


@dataclass(frozen=True)
class Rendered:
    variant: int  # index into Plan.variants
    variant_key: str  # "A", or "A/1.0" with the spintax choices
    body: str
    missing: tuple[str, ...]  # merge fields that had no value and no fallback


def field_column(name: str, custom_keys) -> str | None:
    """The contact attribute behind a merge field name, "fields.<key>" for custom fields; None if unknown."""
    if name in CONTACT_FIELDS:
        return name
    key = name.removeprefix("fields.")
    if key in custom_keys:
        return f"fields.{key}"
    return None


@dataclass(frozen=True)
class Plan:
    key: int
    variants: tuple[CompiledVariant, ...]
    bounds: tuple[int, ...]
    fields: tuple[str, ...]  # merge field names used by any variant, in first-use order

    def variant_of(self, contact_id: int) -> int:
        return assign.variant_index(self.key, contact_id, self.bounds)

    def render(self, contact_id: int, values: Mapping[str, object], variant: int | None = None) -> Rendered:
        index = self.variant_of(contact_id) if variant is None else variant
        compiled = self.variants[index]
        spun, spin_key = compiled.template.render_choices(assign.choices(self.key, contact_id, compiled.sizes))
        result = merge.render(spun, values)
        return Rendered(index, self.variant_key(index, spin_key), result.text, tuple(result.missing))

    def render_choices(self, variant: int, choices: Sequence[int], values: Mapping[str, object]) -> Rendered:
        """The same, from choices already computed (in SQL, by the preview)."""
        compiled = self.variants[variant]
        spun, spin_key = compiled.template.render_choices(choices)
        result = merge.render(spun, values)
        return Rendered(variant, self.variant_key(variant, spin_key), result.text, tuple(result.missing))

    def variant_key(self, variant: int, spin_key: str) -> str:
        label = self.variants[variant].label
        return f"{label}/{spin_key}" if spin_key else label


def compile_plan(key: int, specs: Sequence[VariantSpec], custom_keys=frozenset()) -> tuple[Plan | None, list[Problem]]:
    """The plan, or the problems that stop it: braces errors and unknown merge fields with their positions,
    splits that do not add up to 100, empty bodies."""
    problems: list[Problem] = []
    if not specs:
        return None, [Problem("variants", "A campaign needs a message body.")]
    if len(specs) > MAX_VARIANTS:
        problems.append(Problem("variants", f"At most {MAX_VARIANTS} variants."))
    compiled, fields = [], {}
    for index, spec in enumerate(specs):
        where = f"variants.{index}.body"
        if not spec.body.strip():
            problems.append(Problem(where, f"Variant {spec.label} has no message.", label=spec.label))
            continue
        found = len(problems)
        try:
            template = spintax.parse(spec.body)
        except spintax.SpintaxError as exc:
            template = None
            problems.append(Problem(where, exc.message, exc.position, spec.label))
        try:
            merge.validate(spec.body)
        except merge.MergeError as exc:
            problems.append(Problem(where, str(exc), exc.position, spec.label))
        for match in merge.TOKEN_RE.finditer(spec.body):
            name = match.group("name")
            if field_column(name, custom_keys) is None:
                problems.append(Problem(where, f"Unknown merge field {{{{{name}}}}}.", match.start(), spec.label))
            else:
                fields.setdefault(name, None)
        if template is not None and len(problems) == found:
            compiled.append(CompiledVariant(spec.label, spec.body, spec.split, template))
    splits = [spec.split for spec in specs]
    if any(not isinstance(s, int) or s < 1 or s > 100 for s in splits):
        problems.append(Problem("variants", "Each variant's split is a whole percentage from 1 to 100."))
    elif sum(splits) != 100:
        problems.append(Problem("variants", f"The variants' splits add up to {sum(splits)} %, not 100 %."))
    if len({spec.label for spec in specs}) != len(specs):
        problems.append(Problem("variants", "Each variant needs its own label."))
    if problems:
        return None, problems
    return Plan(key, tuple(compiled), tuple(assign.cumulative(splits)), tuple(fields)), []
