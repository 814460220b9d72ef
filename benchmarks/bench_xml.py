"""Benchmark 2: 100,000 results to Octane XML slices, against a plain ``lxml`` floor.

The floor writes the same elements (checked by comparing canonical XML of a slice) with
``lxml.etree.xmlfile`` and nothing else: no character cleaning, no trace cutting, no
helpers.  Variants alternate within one process and are compared on CPU time
(``time.process_time``: user + system, so the file writes count), which a loaded shared
machine disturbs far less than wall time; wall ratios are printed too.  Memory is measured
in a fresh subprocess per variant so one variant's garbage cannot hide the other's peak.

Run ``python benchmarks/bench_xml.py --rss VARIANT --runs N --folder DIR`` for one memory
measurement (prints JSON); :func:`run_xml` does that itself.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_common import Row, clean_env, fmt_ratio, fmt_s, median, paired_ratios
from lxml import etree

from pytest_octane.job.spool import upload_payload, write_spool
from pytest_octane.model import RunError, RunStatus, TestRun
from pytest_octane.octane.results_xml import ResultHeader, RunRefs, write_slices
from pytest_octane.octane.xml_text import BuildContext

SLICE_SIZE = 1000
KEY_POOL = 2000
FAIL_EVERY = 20  # 5 % failures
TRACE_SIZE = 2048
STORY_BASE = 2001

HEADER = ResultHeader(
    build=BuildContext(server_id="ci-1", job_id="nightly", build_id="4711", job_name="Nightly"),
    test_fields=(("Framework", "pytest"), ("Test_Level", "Unit Test")),
    taxonomies=(("OS", "Linux"),),
)


def make_runs(count: int) -> list[TestRun]:
    """``count`` runs named like a real suite's; every run has 0-2 JIRA keys, every 20th
    fails with a distinct 2 KB trace."""
    runs: list[TestRun] = []
    started = 1_750_000_000_000
    line = "    assert compute(value) == expected  # the line that failed, repeated\n"
    for i in range(count):
        area, module, klass = i % 40, i % 400, i % 7
        keys: tuple[str, ...] = ()
        if i % 3 == 1:
            keys = (f"PROJ-{i % KEY_POOL + 1}",)
        elif i % 3 == 2:
            keys = (f"PROJ-{i % KEY_POOL + 1}", f"PROJ-{(i * 7) % KEY_POOL + 1}")
        error = None
        status = RunStatus.PASSED
        if i % FAIL_EVERY == 0:
            status = RunStatus.FAILED
            head = f"tests/area{area}/test_mod{module}.py:{i % 300 + 10}: in test_case_{i}\n"
            body = (line * (TRACE_SIZE // len(line) + 1))[: TRACE_SIZE - len(head) - 40]
            error = RunError(
                type="AssertionError",
                message=f"assert {i} == {i + 1}",
                trace=f"{head}{body}\nE   AssertionError: assert {i} == {i + 1}",
            )
        elif i % 50 == 3:
            status = RunStatus.SKIPPED
        runs.append(
            TestRun(
                nodeid=f"tests/area{area}/test_mod{module}.py::TestThing{klass}::test_case[{i}]",
                module="",
                package=f"tests.area{area}.test_mod{module}",
                klass=f"TestThing{klass}",
                name=f"test_case[{i}]",
                status=status,
                duration_ms=i % 97,
                started_ms=started + i * 3,
                error=error,
                description="skipped: not on this platform"
                if status is RunStatus.SKIPPED
                else None,
                jira_keys=keys,
            )
        )
    return runs


def story_refs() -> Callable[[TestRun], RunRefs]:
    """Story ids per run from its JIRA keys, as the uploader would have looked them up."""
    cache: dict[tuple[str, ...], RunRefs] = {}

    def refs(run: TestRun) -> RunRefs:
        found = cache.get(run.jira_keys)
        if found is None:
            ids = sorted({STORY_BASE + int(k.split("-")[1]) - 1 for k in run.jira_keys})
            found = cache[run.jira_keys] = RunRefs(backlog_item_ids=tuple(ids))
        return found

    return refs


# ---------------------------------------------------------------- the floor


def _floor_header(xf: etree._IncrementalFileWriter, header: ResultHeader) -> None:
    if header.build is not None:
        xf.write(etree.Element("build", header.build.as_dict()))
    if header.test_fields:
        fields = etree.Element("test_fields")
        for kind, value in header.test_fields:
            etree.SubElement(fields, "test_field", type=kind, value=value)
        xf.write(fields)
    if header.taxonomies:
        env = etree.Element("environment")
        for kind, value in header.taxonomies:
            etree.SubElement(env, "taxonomy", type=kind, value=value)
        xf.write(env)


def floor_write(
    folder: Path,
    header: ResultHeader,
    runs: Sequence[TestRun],
    *,
    slice_size: int,
    refs: Callable[[TestRun], RunRefs] | None,
) -> int:
    """The least a writer of these elements can do with ``lxml.etree.xmlfile``."""
    folder.mkdir(parents=True, exist_ok=True)
    element, sub = etree.Element, etree.SubElement
    files = 0
    for start in range(0, len(runs), slice_size):
        files += 1
        with (
            open(folder / f"floor-{files:04d}.xml", "wb") as fh,
            etree.xmlfile(fh, encoding="UTF-8") as xf,
        ):
            xf.write_declaration(standalone=True)
            with xf.element("test_result"):
                _floor_header(xf, header)
                with xf.element("test_runs"):
                    for run in runs[start : start + slice_size]:
                        attrib = {}
                        if run.module:
                            attrib["module"] = run.module
                        attrib["package"] = run.package
                        attrib["class"] = run.klass
                        attrib["name"] = run.name
                        attrib["duration"] = str(run.duration_ms)
                        attrib["status"] = run.status.value
                        attrib["started"] = str(run.started_ms)
                        el = element("test_run", attrib)
                        if refs is not None:
                            ids = refs(run).backlog_item_ids
                            if ids:
                                items = sub(el, "backlog_items")
                                for ref in ids:
                                    sub(items, "backlog_item_ref", id=str(ref))
                        if run.error is not None:
                            err = sub(el, "error", type=run.error.type, message=run.error.message)
                            err.text = run.error.trace
                        if run.description:
                            sub(el, "description").text = run.description
                        xf.write(el)
    return files


def package_write(
    folder: Path,
    header: ResultHeader,
    runs: Sequence[TestRun],
    *,
    slice_size: int,
    refs: Callable[[TestRun], RunRefs] | None,
) -> int:
    return len(write_slices(folder, header, runs, slice_size=slice_size, refs=refs))


def spool_write(
    folder: Path,
    header: ResultHeader,
    runs: Sequence[TestRun],
    *,
    slice_size: int,
    refs: Callable[[TestRun], RunRefs] | None,
) -> int:
    assert refs is None  # the spool never has story ids; upload_payload adds them
    return len(write_spool(folder, header, runs, slice_size=slice_size, max_trace=20000))


WRITERS: dict[str, Callable[..., int]] = {
    "floor": floor_write,
    "package": package_write,
    "floor-norefs": floor_write,
    "spool": spool_write,
}


def same_elements(a: Path, b: Path) -> bool:
    """Canonical XML (C14N 2.0) of both files is identical."""
    return bool(etree.canonicalize(from_file=str(a)) == etree.canonicalize(from_file=str(b)))


# ---------------------------------------------------------------- memory, in a subprocess


def _rss_kb_now() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() // 1024


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_kb() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def measure_rss(variant: str, count: int, folder: Path) -> dict[str, float | None]:
    runs = make_runs(count)
    refs = story_refs() if variant in ("floor", "package") else None
    gc.collect()
    before_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before_now = _rss_kb_now()
    reset = _reset_peak()
    WRITERS[variant](folder, HEADER, runs, slice_size=SLICE_SIZE, refs=refs)
    after_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm = _peak_kb() if reset else None
    return {
        "ru_maxrss_growth_mb": (after_max - before_max) / 1024,
        "hwm_growth_mb": None if hwm is None else (hwm - before_now) / 1024,
        "rss_before_mb": before_now / 1024,
    }


def _rss_subprocess(variant: str, count: int, folder: Path) -> dict[str, float | None]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--rss",
        variant,
        "--runs",
        str(count),
        "--folder",
        str(folder),
    ]
    proc = subprocess.run(
        command, env=clean_env(), capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory run of {variant} failed: {proc.stderr.strip()[-500:]}")
    result: dict[str, float | None] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------- the benchmark


@dataclass(slots=True)
class XmlResult:
    rows: list[Row]
    detail: list[str]


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _growth(measured: dict[str, float | None]) -> float:
    """The larger of the two peak measures: ru_maxrss after minus before, and the kernel's
    peak mark (reset before writing) minus the resident size before writing."""
    return max(measured["ru_maxrss_growth_mb"] or 0.0, measured["hwm_growth_mb"] or 0.0)


def run_xml(*, count: int, reps: int, log: Callable[[str], None]) -> XmlResult:
    rows: list[Row] = []
    detail: list[str] = []
    runs = make_runs(count)
    refs = story_refs()
    with tempfile.TemporaryDirectory(prefix="octane-bench-xml-") as tmp:
        root = Path(tmp)
        floor_dir, package_dir = root / "floor", root / "package"
        package_write(package_dir, HEADER, runs, slice_size=SLICE_SIZE, refs=refs)
        floor_write(floor_dir, HEADER, runs, slice_size=SLICE_SIZE, refs=refs)
        same = same_elements(floor_dir / "floor-0001.xml", package_dir / "slice-0001.xml")
        rows.append(
            Row("xml: floor writes the same elements (C14N of slice 1)", str(same), "True", same)
        )
        times: dict[str, list[float]] = {name: [] for name in WRITERS}
        walls: dict[str, list[float]] = {name: [] for name in WRITERS}
        for rep in range(reps):
            order = ["floor", "package"] if rep % 2 == 0 else ["package", "floor"]
            order += ["floor-norefs", "spool"] if rep % 2 == 0 else ["spool", "floor-norefs"]
            for name in order:
                folder = root / f"{name}-{rep}"
                use_refs = refs if name in ("floor", "package") else None
                gc.collect()
                started, cpu = time.perf_counter(), time.process_time()
                WRITERS[name](folder, HEADER, runs, slice_size=SLICE_SIZE, refs=use_refs)
                times[name].append(time.process_time() - cpu)
                walls[name].append(time.perf_counter() - started)
                shutil.rmtree(folder)
            log(
                f"  rep {rep + 1}/{reps} CPU: "
                + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in WRITERS)
            )
        spool_dir = root / "spool"
        spool_write(spool_dir, HEADER, runs, slice_size=SLICE_SIZE, refs=None)
        slice_refs = [refs(run) for run in runs[:SLICE_SIZE]]
        payload_times = [
            _timed(lambda: upload_payload(spool_dir / "slice-0001.xml", slice_refs))
            for _ in range(5)
        ]
        rss = {
            name: _rss_subprocess(name, count, root / f"rss-{name}")
            for name in ("floor", "package")
        }
    ratio_of_medians = median(times["package"]) / median(times["floor"])
    paired = median(paired_ratios(times["package"], times["floor"]))
    wall_ratio = median(walls["package"]) / median(walls["floor"])
    label = f"xml: {count:,} runs -> {-(-count // SLICE_SIZE)} slices, write_slices vs floor"
    rows.append(
        Row(
            label,
            f"CPU {fmt_s(median(times['package']))} vs {fmt_s(median(times['floor']))}: "
            f"{fmt_ratio(ratio_of_medians)} (paired {fmt_ratio(paired)}); "
            f"wall {fmt_ratio(wall_ratio)}",
            "CPU <= 1.25x floor",
            ratio_of_medians <= 1.25,
        )
    )
    spool_ratio = median(times["spool"]) / median(times["floor-norefs"])
    rows.append(
        Row(
            f"xml: {count:,} runs, write_spool (slices + key sidecars) vs floor without refs",
            f"{fmt_s(median(times['spool']))}; {fmt_ratio(spool_ratio)}",
        )
    )
    rows.append(
        Row(
            "xml: upload_payload (add story ids to one 1,000-run slice)",
            f"{median(payload_times) * 1000:.0f} ms per slice",
        )
    )
    growth = _growth(rss["package"])
    rows.append(
        Row(
            f"xml: peak RSS growth writing {count:,} runs (subprocess)",
            f"{growth:.1f} MB (floor {_growth(rss['floor']):.1f} MB)",
            "<= 64 MB",
            growth <= 64,
        )
    )
    detail.append(
        "xml raw CPU/wall (s): "
        + "; ".join(
            f"{n}: " + ", ".join(f"{c:.3f}/{w:.3f}" for c, w in zip(ts, walls[n], strict=True))
            for n, ts in times.items()
        )
    )
    detail.append(f"xml memory: {json.dumps(rss)}")
    return XmlResult(rows, detail)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rss", choices=sorted(WRITERS), required=True)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(measure_rss(args.rss, args.runs, args.folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
