"""``pytest-octane simulator``: serve the Octane simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from pytest_octane.errors import ConfigError
from pytest_octane.simulator.server import Simulator

__all__ = ["configure_parser", "load_stories", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser`` (the lead's ``simulator`` subcommand)."""

    def option(flag: str, text: str, **kw: Any) -> None:
        parser.add_argument(flag, help=f"{text} (default: %(default)s)", **kw)

    option("--host", "address to listen on", default="127.0.0.1")
    option("--port", "port, 0 = any free port", type=int, default=8080)
    parser.add_argument(
        "--stories",
        metavar="FILE",
        help='JSON stories: [{"key": "QZ-1", "id": 2001}, ...] or {"QZ-1": 2001, ...} '
        "(default: none)",
    )
    option("--jira-field", "story field with the key", default="jira_key_udf")
    option("--queue-limit", "tasks queued+running", type=int, default=50)
    option("--processing-ms", "time per upload task", type=int, default=500)
    option("--processing-workers", "upload tasks processed at once", type=int, default=1)
    option("--space-id", "the shared space it serves", type=int, default=1001)
    option("--workspace-id", "the workspace it serves", type=int, default=1002)
    option("--client-id", "API key client id it accepts", default="sim-client")
    option("--client-secret", "API key secret it accepts (a local fake)", default="sim-secret")
    option(
        "--idle-timeout",
        "session idle timeout in seconds, none = never",
        type=float,
        default=None,
        metavar="S",
    )
    parser.add_argument(
        "--forbid-delete",
        action="store_true",
        help="answer every DELETE with 403, as for a CI API key whose role may not delete",
    )


def load_stories(path: str) -> list[dict[str, Any]]:
    """Read a stories file: a list of {"key", "id"?, "name"?} or a {key: id} object."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--stories {path!r} cannot be read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--stories {path!r} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    if isinstance(data, dict):
        items: list[Any] = [{"key": k, "id": v} for k, v in data.items()]
    elif isinstance(data, list):
        items = data
    else:
        raise ConfigError(f"--stories {path!r}: expected a JSON list or object")
    stories: list[dict[str, Any]] = []
    for number, item in enumerate(items, 1):
        if isinstance(item, str):
            item = {"key": item}
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ConfigError(f'--stories {path!r}: entry {number} has no string "key"')
        story_id = item.get("id")
        if story_id is not None and (isinstance(story_id, bool) or not isinstance(story_id, int)):
            raise ConfigError(f"--stories {path!r}: entry {number} has a non-integer id")
        stories.append({"key": item["key"], "id": story_id, "name": item.get("name")})
    return stories


def _banner(sim: Simulator, stories: int) -> str:
    spaces = {
        str(sim.space_id): {
            "url": sim.url,
            "workspaceId": sim.workspace_id,
            "jiraKeyField": sim.jira_field,
        }
    }
    snippet = json.dumps(spaces, indent=2)
    return "\n".join(
        [
            f"Octane simulator listening on {sim.url}",
            f"  shared space {sim.space_id}, workspace {sim.workspace_id}",
            f"  API root:     {sim.api_url}",
            f"  stories:      {stories}",
            f"  system root:  application module {sim.system_root_id}",
            f"  control:      {sim.url}/__simulator__/state",
            "Credentials (a local fake, safe to show):",
            f"  export OCTANE_CLIENT_ID={sim.client_id}",
            f"  export OCTANE_CLIENT_SECRET={sim.client_secret}",
            "Example spaces file (--octane-config):",
            snippet,
            "Press Ctrl-C to stop.",
        ]
    )


def run(args: argparse.Namespace) -> int:
    """Start the simulator, print how to use it, serve until Ctrl-C (or SIGTERM); exit 0."""
    try:
        stories = load_stories(args.stories) if args.stories else []
        sim = Simulator(
            host=args.host,
            port=args.port,
            stories=stories,
            jira_field=args.jira_field,
            queue_limit=args.queue_limit,
            processing_ms=args.processing_ms,
            processing_workers=args.processing_workers,
            space_id=args.space_id,
            workspace_id=args.workspace_id,
            client_id=args.client_id,
            client_secret=args.client_secret,
            idle_timeout_s=args.idle_timeout,
            forbid_delete=args.forbid_delete,
        )
        sim.start()
    except (ConfigError, ValueError, RuntimeError) as exc:
        print(f"pytest-octane simulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # SIGINT too, explicitly: a process started with SIGINT ignored (a background job of a
    # non-interactive shell, some CI runners) never gets Python's KeyboardInterrupt handler,
    # so Ctrl-C / kill -INT would leave the simulator running forever.
    in_main = threading.current_thread() is threading.main_thread()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, on_term) for sig in signals} if in_main else {}
    try:
        print(_banner(sim, len(stories)), flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sim.stop()
    print("Octane simulator stopped.", flush=True)
    return 0
