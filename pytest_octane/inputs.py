"""Results files the CLI accepts: JUnit XML (converted) and Octane test-results XML."""

from __future__ import annotations

from pathlib import Path

from pytest_octane.errors import InputError
from pytest_octane.model import RunError, RunStatus, TestRun
from pytest_octane.octane_xml import parse_xml_file, read_junit

_STATUSES = {status.value: status for status in RunStatus}


def _int_attr(value: str | None, where: str, name: str) -> int:
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{where}: {name}={value!r} is not a whole number") from None


def read_octane(path: Path) -> list[TestRun]:
    """Runs of an Octane ``<test_result>`` file (its global elements are not carried over)."""
    root = parse_xml_file(path).getroot()
    runs: list[TestRun] = []
    for element in root.iterfind("test_runs/test_run"):
        where = f"{path}: test_run line {element.sourceline}"
        name = element.get("name")
        if not name:
            raise InputError(f"{where}: has no name attribute")
        status_text = element.get("status") or ""
        if status_text not in _STATUSES:
            raise InputError(f"{where}: status={status_text!r} is not one of {list(_STATUSES)}")
        error_el = element.find("error")
        error = None
        if error_el is not None:
            error = RunError(
                type=error_el.get("type") or "Error",
                message=error_el.get("message") or "",
                trace=error_el.text or "",
            )
        description_el = element.find("description")
        package, klass = element.get("package") or "", element.get("class") or ""
        runs.append(
            TestRun(
                nodeid="::".join(p for p in (package, klass, name) if p),
                module=element.get("module") or "",
                package=package,
                klass=klass,
                name=name,
                status=_STATUSES[status_text],
                duration_ms=_int_attr(element.get("duration"), where, "duration"),
                started_ms=_int_attr(element.get("started"), where, "started"),
                error=error,
                description=description_el.text if description_el is not None else None,
            )
        )
    return runs


def read_results_file(path: Path, *, started_ms: int, module: str = "") -> list[TestRun]:
    """Read one results file, telling JUnit from Octane XML by its root element."""
    root = parse_xml_file(path).getroot()
    if root.tag == "test_result":
        return read_octane(path)
    if root.tag in ("testsuites", "testsuite"):
        return read_junit(path, started_ms=started_ms, module=module)
    raise InputError(
        f"{path}: root element <{root.tag}> is neither JUnit (<testsuites>/<testsuite>) nor "
        "Octane (<test_result>) XML"
    )
