"""``.env.example``, the README's configuration table and the settings classes agree:
the same variables, each with the default its setting has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.settings import EnvSettings, Settings, load_settings
from tasks.settings import MediaSettings

ROOT = Path(__file__).resolve().parents[2]
CLASSES: list[type[EnvSettings]] = [Settings, MediaSettings]
VARIABLES = {name: cls for cls in CLASSES for name in cls.variables()}


def _env_example() -> dict[str, str]:
    """Each variable of ``.env.example`` with the value it is given (commented or not)."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    found = [re.fullmatch(r"#?\s*(ORCH_[A-Z0-9_]+)=(.*)", line) for line in lines]
    pairs = [(match[1], match[2].strip()) for match in found if match]
    assert len(pairs) == len(dict(pairs)), "a variable is given twice"
    return dict(pairs)


def _readme_table() -> dict[str, str]:
    """Each variable of the README's configuration table with its default cell."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(ORCH_[A-Z0-9_]+)` \| (.*?) \|", section, re.MULTILINE)
    assert len(rows) == len(dict(rows)), "a variable has two rows"
    return dict(rows)


def test_every_variable_is_documented_in_both_places_and_nothing_else() -> None:
    assert sorted(_env_example()) == sorted(VARIABLES)
    assert sorted(_readme_table()) == sorted(VARIABLES)


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_the_documented_default_is_the_settings(name: str) -> None:
    cls = VARIABLES[name]
    field = cls.variables()[name]
    default = getattr(cls(), field)
    example, readme = _env_example().get(name), _readme_table().get(name)
    assert example is not None and readme is not None, f"{name} is not documented"

    # An empty value stands for a default that has no value to write: unset (None),
    # or the list a variable only adds to (ORCH_JOB_MODULES); the README says it in words.
    if example == "":
        assert default is None or isinstance(default, list), f"{name}: write {default!r}"
        assert not re.fullmatch(r"`[^`]*`", readme), f"{name}: .env.example gives no value"
    else:
        assert readme == f"`{example}`", f"{name}: the README and .env.example differ"
    assert getattr(load_settings(cls, {name: example}), field) == default
