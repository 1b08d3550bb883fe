"""A job's traceback keeps every frame, with the server's folders made short."""

from __future__ import annotations

import json
import sysconfig

import pytest

from orchestrator.observability.tracebacks import PROJECT_ROOT, format_traceback, short_path


def _fail() -> None:
    json.loads("{not json")


def test_frames_are_shown_relative_to_the_project_and_pythons_library() -> None:
    with pytest.raises(ValueError) as caught:
        _fail()

    text = format_traceback(caught.value)

    assert 'File "tests/unit/test_tracebacks.py", line' in text
    assert 'File "<python>/json/decoder.py", line' in text
    assert "in _fail" in text and "json.loads" in text  # the frames and their code stay
    assert str(PROJECT_ROOT) not in text
    assert sysconfig.get_paths()["stdlib"] not in text
    assert text.rstrip().endswith("line 1 column 2 (char 1)")


def test_paths_outside_the_known_folders_are_kept() -> None:
    purelib = sysconfig.get_paths()["purelib"]
    assert short_path(f"{purelib}/celery/app/task.py") == "<site-packages>/celery/app/task.py"
    assert short_path("/opt/plugins/mine.py") == "/opt/plugins/mine.py"
    assert short_path(f"{PROJECT_ROOT}-other/x.py") == f"{PROJECT_ROOT}-other/x.py"
