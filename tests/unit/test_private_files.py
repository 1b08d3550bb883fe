"""The data dir and the files created in it are private to the user."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.storage.private_files import keep_private


@pytest.fixture
def restore_umask() -> Iterator[None]:
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_loose_data_dir_is_made_0700_and_new_files_are_0600(
    tmp_path: Path, restore_umask: None
) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)

    keep_private(data_dir)

    assert _mode(data_dir) == 0o700
    (data_dir / "orchestrator.db").write_text("")
    assert _mode(data_dir / "orchestrator.db") == 0o600
    (data_dir / "sub").mkdir()
    assert _mode(data_dir / "sub") == 0o700


def test_a_missing_data_dir_is_created_0700_later(tmp_path: Path, restore_umask: None) -> None:
    keep_private(tmp_path / "var")

    (tmp_path / "var").mkdir()
    assert _mode(tmp_path / "var") == 0o700


def test_importing_the_package_leaves_the_umask_alone() -> None:
    code = "import os; os.umask(0o022); import orchestrator, api; print(oct(os.umask(0)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0o22"
