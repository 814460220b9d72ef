"""The README's first command: upload the example suite to the bundled Octane simulator.

Starts the simulator on 127.0.0.1, runs ``pytest examples/test_shop.py`` with
``--octane-space`` against it, then shows the recorded job with ``pytest-octane jobs`` and
``pytest-octane status`` and what arrived in "Octane".  The job stays in the default task
store (``./octane_task_logs``), so ``pytest-octane jobs`` run afterwards lists it too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pytest_octane.simulator import Simulator

HERE = Path(__file__).resolve().parent


def main() -> int:
    work = HERE.parent  # the repository: where the README's next commands are typed
    store = work / "octane_task_logs"  # the default store and spool of plugin and CLI
    stories = [
        {"id": 5001, "name": "Prices include tax", "jira_key_udf": "SHOP-1"},
        {"id": 5002, "name": "Tax rounding", "jira_key_udf": "SHOP-2"},
        {"id": 5003, "name": "Basket", "jira_key_udf": "SHOP-3"},
    ]  # SHOP-4 has no story on purpose: the summary lists it as unmapped
    with Simulator(stories=stories, processing_ms=300) as sim:
        env = dict(
            os.environ,
            OCTANE_CLIENT_ID=sim.client_id,
            OCTANE_CLIENT_SECRET=sim.client_secret,
        )
        print(
            f"Octane simulator at {sim.url} (shared space {sim.space_id}, "
            f"workspace {sim.workspace_id})\n"
        )
        command = [
            sys.executable, "-m", "pytest", "examples/test_shop.py", "-p", "no:cacheprovider",
            f"--octane-space={sim.space_id}", f"--octane-url={sim.url}",
            f"--octane-workspace={sim.workspace_id}", "--octane-root-module=Shop",
            "--octane-slice-size=4", "--octane-max-parallel=2",
            # -rfEs: pytest's "-ra" (pyproject) adds an empty XPASSES header for the xpass
            "-rfEs",
        ]  # fmt: skip
        print("$ " + " ".join(command[2:]) + "\n", flush=True)
        pytest_exit = subprocess.call(command, env=env, cwd=HERE.parent)
        before = _job_ids(store)
        print("\n$ pytest-octane jobs", flush=True)
        subprocess.call([sys.executable, "-m", "pytest_octane", "jobs"], env=env, cwd=work)
        for job_id in sorted(_job_ids(store) - before)[-1:] or sorted(before)[-1:]:
            print(f"\n$ pytest-octane status {job_id}", flush=True)
            subprocess.call(
                [sys.executable, "-m", "pytest_octane", "status", job_id], env=env, cwd=work
            )
        runs = sim.runs()
        print(f"\nThe simulator now holds {len(runs)} automated runs:")
        for run in runs:
            linked = ", ".join(str(i) for i in run.get("covered_content", [])) or "-"
            print(f"  {run['status']:<8} {run['class']}.{run['name']}  stories: {linked}")
    print(f"\nThe job stays in {store}: 'pytest-octane jobs' lists it again.")
    # the example suite has one failing test on purpose; the upload itself must succeed
    return 0 if pytest_exit in (0, 1) else pytest_exit


def _job_ids(store: Path) -> set[str]:
    """Job ids in the JSON task store folder (no file yet: none)."""
    if not store.is_dir():
        return set()
    return {p.stem for p in store.glob("*.json") if p.stem.count("-") == 2}


if __name__ == "__main__":
    sys.exit(main())
