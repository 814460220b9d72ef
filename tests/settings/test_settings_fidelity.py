"""Issue 12's settings: entity write batches and opt-in compression, from every source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_octane.errors import ConfigError
from pytest_octane.settings import resolve_settings


def test_defaults_are_plain_uploads_and_batches_of_200() -> None:
    settings = resolve_settings(cli={}, environ={}, ini={})
    assert (settings.compress, settings.write_batch) == (False, 200)


def test_every_source_reaches_both_settings(tmp_path: Path) -> None:
    spaces = tmp_path / "spaces.json"
    spaces.write_text(json.dumps({"1001": {"compressUploads": True, "entityWriteBatchSize": 50}}))
    from_file = resolve_settings(cli={"space": "1001", "config": str(spaces)}, environ={}, ini={})
    assert (from_file.compress, from_file.write_batch) == (True, 50)
    from_env = resolve_settings(
        cli={}, environ={"OCTANE_COMPRESS": "true", "OCTANE_WRITE_BATCH": "20"}, ini={}
    )
    assert (from_env.compress, from_env.write_batch) == (True, 20)
    from_ini = resolve_settings(cli={}, environ={}, ini={"compress": "true", "write_batch": "7"})
    assert (from_ini.compress, from_ini.write_batch) == (True, 7)
    from_cli = resolve_settings(cli={"compress": True, "write_batch": "1"}, environ={}, ini={})
    assert (from_cli.compress, from_cli.write_batch) == (True, 1)


@pytest.mark.parametrize("value", ["0", "201", "many"])
def test_a_bad_write_batch_is_a_one_line_error(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_settings(cli={}, environ={"OCTANE_WRITE_BATCH": value}, ini={})
    text = str(info.value)
    assert "OCTANE_WRITE_BATCH" in text and value in text and "\n" not in text
