"""Library anchors: what the configuration accepts, and which anchors a scan finds missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.catalog.anchors import missing_anchors, missing_anchors_message
from services.catalog.config import LibraryCreate, LibraryPatch
from services.catalog.models import Library


def _create(anchors: Any) -> list[str]:
    return LibraryCreate(
        name="Movies", path="/data/movies", anchors=anchors, allow_missing=True
    ).anchors


def _error(model: Any, anchors: Any) -> tuple[str, str]:
    """``(field, message)`` of the one validation error ``anchors`` gives."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(
            {"name": "Movies", "path": "/data/movies", "anchors": anchors, "allow_missing": True}
        )
    [error] = caught.value.errors()
    return ".".join(map(str, error["loc"])), error["msg"]


def test_a_library_has_no_anchors_unless_it_names_some() -> None:
    assert LibraryCreate(name="Movies", path="/data/movies", allow_missing=True).anchors == []
    assert "anchors" not in LibraryPatch().model_dump(exclude_unset=True)


def test_anchors_are_kept_in_order_in_their_plain_form() -> None:
    assert _create([".anchor", " Movies/.mounted ", "./a//b/"]) == [
        ".anchor",
        "Movies/.mounted",
        "a/b",
    ]
    assert _create(["." + "x" * 499] * 10) == ["." + "x" * 499] * 10  # the limits themselves


@pytest.mark.parametrize("model", [LibraryCreate, LibraryPatch])
@pytest.mark.parametrize(
    ("anchors", "field", "words"),
    [
        (["/mnt/movies/.anchor"], "anchors.0", "relative to the library folder"),
        ([".a", "x/../../etc/passwd"], "anchors.1", "'..'"),
        (["..", "b"], "anchors.0", "'..'"),
        ([" \t"], "anchors.0", "blank"),
        (["."], "anchors.0", "name a file"),
        (["a" * 501], "anchors.0", "at most 500"),
        ([f"a{n}" for n in range(11)], "anchors", "at most 10"),
    ],
)
def test_bad_anchors_are_refused_saying_what_to_fix(
    model: Any, anchors: list[str], field: str, words: str
) -> None:
    assert _error(model, anchors)[0] == field
    assert words in _error(model, anchors)[1]


def test_missing_anchors_are_the_absolute_paths_of_those_not_on_disk(tmp_path: Path) -> None:
    (tmp_path / ".anchor").write_text("")
    (tmp_path / "Movies").mkdir()
    library = Library(name="Movies", path=str(tmp_path), anchors=[".anchor", "Movies/.mounted"])

    assert missing_anchors(library) == [f"{tmp_path}/Movies/.mounted"]
    (tmp_path / "Movies" / ".mounted").write_text("")
    assert missing_anchors(library) == []
    (tmp_path / ".anchor").unlink()
    assert missing_anchors(library) == [f"{tmp_path}/.anchor"]


def test_an_anchor_linking_into_a_share_that_is_gone_is_missing(tmp_path: Path) -> None:
    (tmp_path / ".anchor").symlink_to(tmp_path / "share" / ".anchor")
    library = Library(name="Movies", path=str(tmp_path), anchors=[".anchor"])

    assert missing_anchors(library) == [f"{tmp_path}/.anchor"]


def test_a_library_without_anchors_misses_none(tmp_path: Path) -> None:
    gone = tmp_path / "not mounted"
    assert missing_anchors(Library(name="Movies", path=str(gone), anchors=[])) == []
    assert missing_anchors(Library(name="Movies", path=str(gone))) == []  # not yet flushed


def test_the_message_names_the_library_the_files_and_what_to_do() -> None:
    library = Library(name="Movies", path="/mnt/media/movies", anchors=[".anchor"])

    one = missing_anchors_message(library, ["/mnt/media/movies/.anchor"])
    two = missing_anchors_message(library, ["/mnt/media/movies/.a", "/mnt/media/movies/.b"])

    assert one.startswith("library Movies: anchor file /mnt/media/movies/.anchor is missing:")
    assert "anchor files /mnt/media/movies/.a, /mnt/media/movies/.b are missing" in two
    for message in (one, two):
        assert "not be mounted" in message and "nothing was scanned" in message
        assert "no player was told" in message and "retry the job" in message
