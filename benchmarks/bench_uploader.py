"""Issue 22's benchmarks: what the upload costs pytest once it runs in a process of its own.

* ``uploader-overhead``: 5,000 trivial tests, bare pytest against ``--octane-dry-run``, an
  upload to the simulator and ``--junitxml``; the variants alternate within each round and
  each is divided by the bare run of its own round (median of the paired ratios, wall and
  CPU; CPU is the pytest process and every child it waited for).
* ``uploader-startup``: the uploader's start-up cost, measured from outside as the median
  paired difference between an upload session of one trivial test and bare pytest (the upload
  of one run to a simulator that processes tasks at once is included: nothing finer is
  visible from outside).
* ``uploader-memory``: the peak resident memory of a 100,000-test parametrized session with
  the plugin uploading against the same session without it.  Each session runs under a fresh
  wrapper process that reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest peak of
  any process it (or its waited-for descendants: pytest, the uploader) ran.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench_common import Row, clean_env, fmt_ratio, fmt_s, median
from bench_overhead import (
    BARE,
    DRY,
    JUNIT,
    UPLOAD,
    Variant,
    _dry_written,
    _ratios,
    _run_once,
    _upload_variant,
    alternate_rounds,
    make_suite,
    module_count,
)


@dataclass(slots=True)
class UploaderResult:
    rows: list[Row]
    detail: list[str]


def _alternate(
    variants: list[Variant], suite: Path, scratch: Path, rounds: int, log: Callable[[str], None]
) -> None:
    """A warm-up run of each variant (not counted), then ``rounds`` alternating rounds."""
    timeout = 600.0
    for variant in variants:
        _, _, problem = _run_once(variant, suite, scratch, timeout)
        if problem:
            raise RuntimeError(f"{variant.name}: warm-up failed: {problem}")
    alternate_rounds(variants, suite, scratch, rounds=rounds, timeout=timeout, log=log)


def _before(variant: Variant, source: Path) -> Variant:
    """``variant`` run with the package code in ``source`` (the code before the change) in
    front of the installed one."""
    return Variant(
        f"{variant.name} [before]",
        variant.args,
        env={**variant.env, "PYTHONPATH": str(source)},
        check=variant.check,
    )


def run_uploader_overhead(
    *, tests: int, rounds: int, log: Callable[[str], None], before: Path | None = None
) -> UploaderResult:
    """``before``: a folder holding the ``pytest_octane`` package as it was before the change
    (``git archive main pytest_octane | tar -x -C DIR``); its dry-run and upload variants then
    alternate with the others in the same rounds."""
    from pytest_octane.simulator import Simulator

    rows: list[Row] = []
    detail: list[str] = []
    with tempfile.TemporaryDirectory(prefix="octane-bench-uploader-") as tmp:
        root = Path(tmp)
        suite = make_suite(root, tests)
        scratch = root / "scratch"
        scratch.mkdir()
        keys = [f"BENCH-{i}" for i in range(1, module_count(tests) + 1)]
        sim = Simulator(stories=keys, processing_ms=0).start()
        try:
            bare = Variant(BARE, lambda s: [])
            dry = Variant(DRY, lambda s: [f"--octane-dry-run={s / 'dry'}"], check=_dry_written)
            upload = _upload_variant(sim, scratch)
            variants = [
                bare,
                dry,
                upload,
                Variant(JUNIT, lambda s: [f"--junitxml={s / 'junit.xml'}"]),
            ]
            if before is not None:
                variants += [_before(dry, before), _before(upload, before)]
            _alternate(variants, suite, scratch, rounds, log)
            stored = sim.counters["runs_stored"]
            uploads = sum(1 for v in variants if v.args is upload.args)
            expected = tests * (rounds + 1) * uploads
            rows.append(
                Row("uploader overhead: runs the simulator stored", str(stored),
                    f"== {expected}", stored == expected)
            )  # fmt: skip
        finally:
            sim.stop()
    rows.insert(
        0,
        Row(
            f"uploader overhead {tests} tests: {BARE}, median wall / CPU",
            f"{fmt_s(median(bare.wall))} / {fmt_s(median(bare.cpu))}",
        ),
    )
    for variant in variants[1:]:
        wall, cpu = _ratios(variant, bare)
        goal, met = "-", None
        if variant.name == UPLOAD:
            goal, met = "wall <= 1.10x bare", wall <= 1.10
        rows.insert(
            len(rows) - 1,
            Row(
                f"uploader overhead {tests} tests: {variant.name} ({rounds} paired rounds)",
                f"wall {fmt_ratio(wall)}, CPU {fmt_ratio(cpu)} bare",
                goal,
                met,
            ),
        )
    for now, then in zip(variants[1:3], variants[4:], strict=False):  # with ``before`` only
        wall, cpu = _ratios(now, then)
        rows.insert(
            len(rows) - 1,
            Row(
                f"uploader overhead {tests} tests: {now.name}, after vs before (paired)",
                f"wall {fmt_ratio(wall)}, CPU {fmt_ratio(cpu)}",
            ),
        )
    raw = {v.name: zip(v.wall, v.cpu, strict=True) for v in variants}
    detail.append(
        "uploader overhead raw wall/CPU (s): "
        + "; ".join(
            f"{name}: " + ", ".join(f"{w:.2f}/{c:.2f}" for w, c in pairs)
            for name, pairs in raw.items()
        )
    )
    return UploaderResult(rows, detail)


def run_uploader_startup(
    *, pairs: int, log: Callable[[str], None], before: Path | None = None
) -> UploaderResult:
    from pytest_octane.simulator import Simulator

    with tempfile.TemporaryDirectory(prefix="octane-bench-uploader-start-") as tmp:
        root = Path(tmp)
        suite = make_suite(root, 1)
        scratch = root / "scratch"
        scratch.mkdir()
        sim = Simulator(stories=["BENCH-1"], processing_ms=0).start()
        try:
            bare = Variant(BARE, lambda s: [])
            uploads = [_upload_variant(sim, scratch)]
            if before is not None:
                uploads.append(_before(uploads[0], before))
            _alternate([bare, *uploads], suite, scratch, pairs, log)
        finally:
            sim.stop()
    rows: list[Row] = []
    detail = [f"uploader start-up raw wall (s): bare {_walls(bare)}"]
    for upload in uploads:
        wall_ms = median([(u - b) * 1000 for u, b in zip(upload.wall, bare.wall, strict=True)])
        cpu_ms = median([(u - b) * 1000 for u, b in zip(upload.cpu, bare.cpu, strict=True)])
        label = " [before]" if upload is not uploads[0] else ""
        rows.append(
            Row(
                f"uploader start-up{label}: 1-test upload session minus bare pytest "
                f"({pairs} rounds)",
                f"wall {wall_ms:.0f} ms, CPU {cpu_ms:.0f} ms",
            )
        )
        detail.append(f"uploader start-up raw wall (s): upload{label} {_walls(upload)}")
    return UploaderResult(rows, detail)


def _walls(variant: Variant) -> str:
    return ", ".join(f"{w:.3f}" for w in variant.wall)


_WRAPPER = """\
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[2:], cwd=sys.argv[1], stdout=subprocess.DEVNULL,
                      stderr=subprocess.PIPE, check=False)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": done.returncode, "maxrss_kb": usage.ru_maxrss,
                  "stderr": done.stderr.decode("utf-8", "replace")[-2000:]}))
"""


def _peak(suite: Path, args: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """(peak RSS in kB of the session's processes, problem or "")."""
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(suite), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    problem = "" if report["code"] == 0 else f"exit {report['code']}: {report['stderr']}"
    return int(report["maxrss_kb"]), problem


def run_uploader_memory(
    *, tests: int, log: Callable[[str], None], before: Path | None = None
) -> UploaderResult:
    """Bare pytest, then the upload (then, with ``before``, the upload with the code in that
    folder), each in a fresh wrapper; every upload must store all its runs."""
    from pytest_octane.simulator import Simulator

    with tempfile.TemporaryDirectory(prefix="octane-bench-uploader-mem-") as tmp:
        root = Path(tmp)
        suite = make_suite(root, tests, per_file=tests)  # one parametrized test function
        sim = Simulator(stories=["BENCH-1"], processing_ms=0).start()
        timeout = max(600.0, tests / 50)
        peaks: dict[str, int] = {}
        try:
            sessions: list[tuple[str, bool, dict[str, str]]] = [("bare", False, {})]
            sessions.append(("upload", True, {}))
            if before is not None:
                sessions.append(("upload [before]", True, {"PYTHONPATH": str(before)}))
            for name, uploads, extra in sessions:
                args: list[str] = []
                creds: dict[str, str] = {}
                if uploads:
                    run = root / name.replace(" ", "-")
                    args = [
                        f"--octane-space={sim.space_id}",
                        f"--octane-url={sim.url}",
                        f"--octane-workspace={sim.workspace_id}",
                        f"--octane-task-store={run / 'store'}",
                        f"--octane-spool-dir={run / 'spool'}",
                        "--octane-strict",
                    ]
                    creds = {
                        "OCTANE_CLIENT_ID": sim.client_id,
                        "OCTANE_CLIENT_SECRET": sim.client_secret,
                    }
                env = clean_env(root / "pycache", **creds, **extra)
                peak, problem = _peak(suite, args, env, timeout)
                if problem:
                    raise RuntimeError(f"{name} session failed: {problem}")
                peaks[name] = peak
                log(f"  {name}: {peak / 1024:.0f} MB")
            stored = sim.counters["runs_stored"]
        finally:
            sim.stop()
    bare_kb = peaks["bare"]
    uploads = len(peaks) - 1
    rows = [
        Row(
            f"peak RSS, {tests} parametrized tests: {name} vs bare pytest",
            f"{kb / 1024:.0f} MB vs {bare_kb / 1024:.0f} MB ({fmt_ratio(kb / bare_kb)})",
        )
        for name, kb in peaks.items()
        if name != "bare"
    ]
    rows.append(
        Row(
            "uploader memory: runs the simulator stored",
            str(stored),
            f"== {tests * uploads}",
            stored == tests * uploads,
        )
    )
    raw = ", ".join(f"{name} {kb}" for name, kb in peaks.items())
    return UploaderResult(
        rows, [f"uploader memory: ru_maxrss of the session's processes, kB: {raw}"]
    )
