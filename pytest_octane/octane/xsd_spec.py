"""The structure of Octane's result XML as tables, written from ``octaneResultSchema.xsd``.

The checker in schema.py walks a document against these specs; keeping the tables apart lets
one read what the XSD allows without the walking code in the way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lxml import etree

__all__ = ["SPECS", "XSI_ALLOWED", "Slot", "Spec", "spec_for"]

_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
XSI_ALLOWED = {f"{_XSI}noNamespaceSchemaLocation", f"{_XSI}schemaLocation"}
_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
_URL = re.compile(
    r"([hH][tT]{2}[pP][sS]?://*[^\n\r]*)|([tT][dD][sS]?://*[^\n\r]*)|(testdirector[s]?:*[^\n\r]*)"
)
_STATUSES = ("Passed", "Skipped", "Failed", "Planned")
_FIELD_TYPES = ("Test_Level", "Test_Type", "Testing_Tool_Type", "Framework")


# ---------------------------------------------------------------- attribute types


def _check_length(low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not low <= len(value) <= high:
            return f"must be {low} to {high} characters long, got {len(value)}"
        return None

    return check


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _check_long(value: str) -> str | None:
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        return "must be an integer (xs:long)"
    if not _LONG_MIN <= int(text) <= _LONG_MAX:
        return "is out of the xs:long range"
    return None


def _check_boolean(value: str) -> str | None:
    if value.strip() not in ("true", "false", "1", "0"):
        return "must be true, false, 1 or 0"
    return None


def _check_enum(allowed: Sequence[str]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value not in allowed:
            return f"must be one of {', '.join(allowed)}"
        return None

    return check


def _check_url(value: str) -> str | None:
    problem = _check_length(6, 512)(value)
    if problem:
        return problem
    if not _URL.fullmatch(value):
        return "must start with http(s)://, td(s):// or testdirector(s):"
    return None


def _any_string(value: str) -> str | None:
    return None


_S255 = _check_length(1, 255)
_S0_255 = _check_length(0, 255)
_S3800 = _check_length(1, 3800)


# ---------------------------------------------------------------- element specs


@dataclass(frozen=True, slots=True)
class Slot:
    """One particle of an xs:sequence: one of ``names``, between ``low`` and ``high`` times."""

    names: tuple[str, ...]
    low: int = 0
    high: int | None = 1


@dataclass(frozen=True, slots=True)
class Spec:
    """What one element may carry: attributes (check, required), child sequence, text."""

    attrs: dict[str, tuple[Callable[[str], str | None], bool]] = field(default_factory=dict)
    children: tuple[Slot, ...] = ()
    text: bool = False  # mixed or simple content: character data allowed
    #: derived once, for the checker's walk over every run of a slice: the required
    #: attributes, whether some child is required, and which slot takes each child tag
    required: tuple[str, ...] = field(init=False)
    needs_children: bool = field(init=False)
    slot_of: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        required = tuple(name for name, (_, needed) in self.attrs.items() if needed)
        object.__setattr__(self, "required", required)
        object.__setattr__(self, "needs_children", any(s.low for s in self.children))
        slot_of = {name: i for i, slot in enumerate(self.children) for name in slot.names}
        if len(slot_of) != sum(len(slot.names) for slot in self.children):
            raise ValueError("a child tag may be in one slot of a sequence only")
        object.__setattr__(self, "slot_of", slot_of)


_REF = Spec(attrs={"id": (_check_long, True)})
_CONTEXT = (
    Slot(("suite_ref",)),
    Slot(("program_ref",)),
    Slot(("release_ref", "release")),
    Slot(("milestone_ref",)),
    Slot(("backlog_items",)),
    Slot(("product_areas",)),
    Slot(("test_fields",)),
    Slot(("environment",)),
)
SPECS: dict[str, Spec] = {
    "test_result": Spec(
        children=(Slot(("build",)), *_CONTEXT, Slot(("test_runs",), 1, 1)),
    ),
    "test_runs": Spec(),
    "build": Spec(
        attrs={
            "server_id": (_S255, True),
            "job_id": (_S255, True),
            "job_name": (_S255, False),
            "build_id": (_S255, True),
            "build_name": (_S255, False),
            "sub_type": (_S0_255, False),
            "artifact_id": (_S0_255, False),
        }
    ),
    "suite_ref": Spec(
        attrs={
            "id": (_check_long, True),
            "external_run_id": (_S0_255, False),
            "component": (_S0_255, False),
        }
    ),
    "program_ref": _REF,
    "release_ref": _REF,
    "milestone_ref": _REF,
    "backlog_item_ref": _REF,
    "product_area_ref": _REF,
    "release": Spec(attrs={"name": (_S255, True)}),
    "backlog_items": Spec(children=(Slot(("backlog_item_ref",), 0, None),)),
    "product_areas": Spec(children=(Slot(("product_area_ref",), 0, None),)),
    "test_fields": Spec(children=(Slot(("test_field",), 0, None),)),
    "test_field": Spec(attrs={"type": (_check_enum(_FIELD_TYPES), True), "value": (_S255, True)}),
    "environment": Spec(children=(Slot(("taxonomy",), 0, None),)),
    "taxonomy": Spec(attrs={"type": (_S255, True), "value": (_S255, True)}),
    "test_run": Spec(
        attrs={
            "module": (_S0_255, False),
            "package": (_S0_255, False),
            "class": (_S0_255, False),
            "name": (_S255, True),
            "run_name": (_S255, False),
            "duration": (_check_long, True),
            "status": (_check_enum(_STATUSES), True),
            "manual": (_check_boolean, False),
            "started": (_check_long, False),
            "external_report_url": (_check_url, False),
            "external_assets": (_any_string, False),
            "external_test_id": (_S0_255, False),
            "external_run_id": (_S0_255, False),
            "run_type": (_S0_255, False),
        },
        children=(
            *_CONTEXT,
            Slot(("error",)),
            Slot(("description",)),
            Slot(("steps",), 0, None),
        ),
    ),
    "error": Spec(attrs={"type": (_any_string, False), "message": (_any_string, False)}, text=True),
    "description": Spec(text=True),
    "steps": Spec(attrs={"iteration": (_S255, False)}, children=(Slot(("step",), 0, None),)),
    "step": Spec(
        attrs={
            "name": (_S3800, True),
            "duration": (_check_long, True),
            "status": (_S255, True),
            "external_step_id": (_S255, False),
        },
        children=(
            Slot(("error_message",)),
            Slot(("input_parameters",)),
            Slot(("output_parameters",)),
        ),
    ),
    "error_message": Spec(text=True),
    "gherkin_test_run": Spec(
        attrs={
            "name": (_S0_255, True),
            "duration": (_check_long, True),
            "status": (_check_enum(_STATUSES), True),
            "external_run_id": (_S0_255, False),
        },
        children=(Slot(("feature",), 1, 1),),
    ),
    "feature": Spec(
        attrs={
            "name": (_S0_255, True),
            "path": (_S255, True),
            "identifier": (_S0_255, False),
            "tag": (_S0_255, True),
            "started": (_check_long, True),
        },
        children=(Slot(("file",), 1, 1), Slot(("scenarios",))),
    ),
    "file": Spec(text=True),  # xs:anyType: any content (checked no further)
    "scenarios": Spec(children=(Slot(("background",)), Slot(("scenario",), 0, None))),
    "background": Spec(children=(Slot(("steps",)),)),
    "background/steps": Spec(children=(Slot(("step",), 0, None),)),
    "background/step": Spec(
        attrs={
            "name": (_S3800, True),
            "duration": (_check_long, False),
            "status": (_S255, False),
        },
        children=(Slot(("error_message",)),),
    ),
    "scenario": Spec(
        attrs={
            "name": (_check_length(0, 3800), True),
            "outlineIndex": (_check_long, False),
            "status": (_check_enum(_STATUSES), True),
        },
        children=(Slot(("steps",), 1, 1),),
    ),
    "input_parameters": Spec(children=(Slot(("parameter",), 1, None),)),
    "output_parameters": Spec(children=(Slot(("parameter",), 1, None),)),
    "parameter": Spec(
        attrs={"name": (_S255, True), "value": (_S0_255, False), "type": (_S0_255, False)}
    ),
}


def spec_for(element: etree._Element, tag: str) -> Spec:
    """Background steps are their own XSD types (duration and status optional)."""
    if tag in ("steps", "step"):
        parent = element.getparent()
        owner = parent if tag == "steps" else (parent.getparent() if parent is not None else None)
        if owner is not None and owner.tag == "background":
            return SPECS[f"background/{tag}"]
    return SPECS[tag]
