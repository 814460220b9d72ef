"""The document header of Octane's results XML, as data: what a whole document says about
its runs.  Kept apart from the writer (results_xml.py) so that the pytest process, which only
journals it, does not import lxml (issue 28)."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_octane.model import BuildContext
from pytest_octane.settings import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultHeader:
    """What a whole document says about its runs (the XSD's global elements)."""

    build: BuildContext | None = None
    suite_id: int | None = None
    external_run_id: str | None = None
    program_id: int | None = None
    release: int | str | None = None
    milestone_id: int | None = None
    backlog_item_ids: tuple[int, ...] = ()
    product_area_ids: tuple[int, ...] = ()
    test_fields: tuple[tuple[str, str], ...] = ()
    taxonomies: tuple[tuple[str, str], ...] = ()
    #: each run's ``external_report_url``: a template ({build_url}, {nodeid}, {name}) and the
    #: CI build's page; with no template the build's page itself (see xml_text.run_link)
    report_url: str | None = None
    build_url: str | None = None


def build_context_of(settings: Settings) -> BuildContext | None:
    if not (settings.build_server_id and settings.build_job_id and settings.build_id):
        return None
    return BuildContext(
        server_id=settings.build_server_id,
        job_id=settings.build_job_id,
        build_id=settings.build_id,
        job_name=settings.build_job_name,
        build_name=settings.build_name,
    )


def header_from_settings(settings: Settings, *, suite_id: int | None = None) -> ResultHeader:
    """The document-level elements the user configured."""
    return ResultHeader(
        build=build_context_of(settings),
        suite_id=suite_id if suite_id is not None else settings.suite_id,
        external_run_id=settings.external_run_id,
        program_id=settings.program,
        release=settings.release,
        milestone_id=settings.milestone,
        backlog_item_ids=settings.backlog_item,
        product_area_ids=settings.product_area,
        test_fields=settings.effective_test_fields,
        taxonomies=settings.tag,
        report_url=settings.report_url,
        build_url=settings.build_url,
    )
