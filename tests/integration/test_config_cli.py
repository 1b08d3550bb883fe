"""The configuration commands: ``orchestrator library|mapping|group|player``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import click
import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from sqlalchemy import func, select

from orchestrator.cli.main import main
from orchestrator.jobs.dispatch import cancel_job
from orchestrator.jobs.models import Job
from orchestrator.storage.db import read_session
from services.catalog.models import Player
from tests.conftest import API_KEY
from tests.fakes.players import FakeKodi

MISSING_ID = 2_000_000_000


@pytest.fixture
def runner(database: str) -> CliRunner:
    return CliRunner()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


def run(runner: CliRunner, *args: str) -> Result:
    """Run ``orchestrator ARGS`` in-process; it must succeed."""
    result = runner.invoke(main, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def created(runner: CliRunner, *args: str) -> dict[str, Any]:
    """Run an ``add`` command and decode the JSON object it prints."""
    body: dict[str, Any] = json.loads(run(runner, *args).stdout)
    return body


def listed(runner: CliRunner, resource: str) -> list[dict[str, Any]]:
    """Decode ``RESOURCE list``: one JSON object per line."""
    lines = run(runner, resource, "list").stdout.splitlines()
    return [json.loads(line) for line in lines]


def add_library(runner: CliRunner, tmp_path: Path, *extra: str) -> dict[str, Any]:
    name = unique("lib")
    (tmp_path / name).mkdir()
    return created(runner, "library", "add", name, str(tmp_path / name), *extra)


def add_group(runner: CliRunner, *extra: str) -> dict[str, Any]:
    return created(runner, "group", "add", unique("group"), *extra)


def test_commands_are_registered_through_the_entry_point() -> None:
    assert {"library", "mapping", "group", "player"} <= set(main.commands)
    library, player = main.commands["library"], main.commands["player"]
    assert isinstance(library, click.Group) and isinstance(player, click.Group)
    assert {"add", "list", "update", "delete", "scan"} <= set(library.commands)
    assert {"add", "list", "update", "delete", "test"} <= set(player.commands)
    for name in ("mapping", "group"):
        resource = main.commands[name]
        assert isinstance(resource, click.Group)
        assert {"add", "list", "update", "delete"} <= set(resource.commands)


def test_library_add_and_list(runner: CliRunner, tmp_path: Path) -> None:
    name = unique("lib")
    (tmp_path / name).mkdir()
    library = created(runner, "library", "add", name, f"{tmp_path}/{name}/", "--kind", "tv")
    assert library == {
        "id": library["id"],
        "name": name,
        "path": f"{tmp_path}/{name}",
        "kind": "tv",
        "anchors": [],
        "follow_links": False,
        "watch": False,
    }
    movies = add_library(runner, tmp_path)
    assert movies["kind"] == "movies"

    rows = listed(runner, "library")
    mine = [row for row in rows if row["id"] in (library["id"], movies["id"])]
    assert mine == [library, movies]
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)


def test_library_add_relative_path_fails_naming_the_field(
    runner: CliRunner, tmp_path: Path
) -> None:
    name = unique("lib")
    result = runner.invoke(main, ["library", "add", name, "media/movies"])
    assert result.exit_code != 0
    assert re.search(r"\bpath\b", result.stderr) and "absolute" in result.stderr
    assert "Traceback" not in result.output
    assert name not in {row["name"] for row in listed(runner, "library")}


def test_library_add_of_a_folder_that_is_not_there_fails_unless_allowed(
    runner: CliRunner, tmp_path: Path
) -> None:
    name, missing = unique("lib"), str(tmp_path / "not-mounted-yet")
    refused = runner.invoke(main, ["library", "add", name, missing])
    assert refused.exit_code == 1
    assert f"{missing} does not exist here" in refused.stderr
    assert "--allow-missing" in refused.stderr and "Traceback" not in refused.output
    assert name not in {row["name"] for row in listed(runner, "library")}

    library = created(runner, "library", "add", name, missing, "--allow-missing")
    assert library["path"] == missing
    moved = runner.invoke(main, ["library", "update", str(library["id"]), "--path", missing + "2"])
    assert moved.exit_code == 1 and "does not exist here" in moved.stderr
    run(runner, "library", "update", str(library["id"]), "--path", missing + "2", "--allow-missing")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["readarr", "/books", "/data/books"], "source"),
        (["raddar", "/movies", "/data/movies"], "source"),
        (["radarr", "movies", "/data/movies"], "from"),
        (["radarr", "/movies", "data/movies"], "to"),
    ],
)
def test_mapping_add_refuses_what_cannot_work_naming_the_field(
    runner: CliRunner, args: list[str], field: str
) -> None:
    result = runner.invoke(main, ["mapping", "add", *args])
    assert result.exit_code == 1
    assert re.search(rf"\b{field}\b", result.stderr), result.stderr
    assert "Traceback" not in result.output


def test_library_add_with_anchors(runner: CliRunner, tmp_path: Path) -> None:
    library = add_library(runner, tmp_path, "--anchor", ".anchor", "--anchor", "Movies/.mounted")
    assert library["anchors"] == [".anchor", "Movies/.mounted"]
    assert [row for row in listed(runner, "library") if row["id"] == library["id"]] == [library]


def test_library_add_with_a_bad_anchor_fails_saying_what_to_fix(
    runner: CliRunner, tmp_path: Path
) -> None:
    name = unique("lib")
    args = ["library", "add", name, str(tmp_path / name), "--anchor", ".a", "--anchor", "/x/.a"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert "anchors.1" in result.stderr and "relative to the library folder" in result.stderr
    assert "Traceback" not in result.output
    assert name not in {row["name"] for row in listed(runner, "library")}


def test_library_add_follow_links_and_a_system_path_that_needs_confirming(
    runner: CliRunner, tmp_path: Path
) -> None:
    assert add_library(runner, tmp_path, "--follow-links")["follow_links"] is True
    assert add_library(runner, tmp_path)["follow_links"] is False
    assert add_library(runner, tmp_path, "--watch")["watch"] is True
    name = unique("lib")
    # A folder that need not exist here: the system-folder check is under test.
    add = ["library", "add", name, f"/var/{name}", "--allow-missing"]
    refused = runner.invoke(main, add)
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert "system folder /var" in refused.stderr and "--confirm-system-path" in refused.stderr
    assert name not in {row["name"] for row in listed(runner, "library")}
    confirmed = created(runner, *add, "--confirm-system-path")
    assert confirmed["path"] == f"/var/{name}" and "confirm_system_path" not in confirmed


def test_library_add_bad_kind_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["library", "add", unique("lib"), str(tmp_path), "--kind", "x"])
    assert result.exit_code == 2
    assert "--kind" in result.stderr


def test_library_add_duplicate_fails(runner: CliRunner, tmp_path: Path) -> None:
    library = add_library(runner, tmp_path)
    (tmp_path / "other").mkdir()
    result = runner.invoke(main, ["library", "add", library["name"], str(tmp_path / "other")])
    assert result.exit_code == 1
    assert "already exists" in result.stderr


def test_mapping_add_and_list(runner: CliRunner) -> None:
    token = uuid4().hex[:8]
    mapping = created(runner, "mapping", "add", "radarr", f"/downloads/{token}", f"/data/{token}")
    expected = {
        "id": mapping["id"],
        "source": "radarr",
        "from": f"/downloads/{token}",
        "to": f"/data/{token}",
    }
    assert mapping == expected
    assert [row for row in listed(runner, "mapping") if row["id"] == mapping["id"]] == [expected]


def test_mapping_add_bad_source_fails_naming_the_field(runner: CliRunner) -> None:
    result = runner.invoke(main, ["mapping", "add", "Radarr!", "/downloads", "/data"])
    assert result.exit_code == 1
    assert "source" in result.stderr


def test_group_add_with_libraries_and_mappings(runner: CliRunner, tmp_path: Path) -> None:
    first, second = add_library(runner, tmp_path), add_library(runner, tmp_path)
    name = unique("group")
    group = created(
        runner,
        "group", "add", name,
        "--library", str(second["id"]), "--library", str(first["id"]),
        "--map", "/data/movies=smb://nas/movies",
        "--map", "/data/tv=nfs://nas/tv=x",
    )  # fmt: skip
    expected = {
        "id": group["id"],
        "name": name,
        "library_ids": sorted([first["id"], second["id"]]),
        "path_mappings": [
            {"from": "/data/movies", "to": "smb://nas/movies"},
            {"from": "/data/tv", "to": "nfs://nas/tv=x"},  # split at the first "="
        ],
        "player_ids": [],
    }
    assert group == expected
    assert [row for row in listed(runner, "group") if row["id"] == group["id"]] == [expected]


def test_group_add_with_a_bad_map_is_a_usage_error(runner: CliRunner) -> None:
    name = unique("group")
    result = runner.invoke(main, ["group", "add", name, "--map", "bad"])
    assert result.exit_code == 2
    assert "--map" in result.stderr and "OURS=THEIRS" in result.stderr
    assert name not in {row["name"] for row in listed(runner, "group")}


def test_group_add_with_an_unknown_library_fails(runner: CliRunner) -> None:
    name = unique("group")
    result = runner.invoke(main, ["group", "add", name, "--library", str(MISSING_ID)])
    assert result.exit_code == 1
    assert "library_ids" in result.stderr and str(MISSING_ID) in result.stderr
    assert name not in {row["name"] for row in listed(runner, "group")}


def test_player_add_never_shows_the_password(runner: CliRunner) -> None:
    group = add_group(runner)
    name = unique("player")
    result = run(
        runner,
        "player", "add", name, "--type", "kodi", "--url", "http://kodi.local:8080/",
        "--group", str(group["id"]), "--username", "kodi", "--password", "s3cret",
        "--position", "2", "--disabled",
    )  # fmt: skip
    assert "s3cret" not in result.output
    player = json.loads(result.stdout)
    assert player == {
        "id": player["id"],
        "name": name,
        "type": "kodi",
        "url": "http://kodi.local:8080",
        "group_id": group["id"],
        "enabled": False,
        "position": 2,
        "username": "kodi",
        "has_password": True,
        "has_token": False,
        # The command and webhook types' fields, unset for a media player.
        "command": None,
        "time_limit": None,
        "header_name": None,
        "has_header_value": False,
    }
    with read_session() as session:
        row = session.get(Player, player["id"])
        assert row is not None and row.password == "s3cret"

    listing = run(runner, "player", "list")
    assert "s3cret" not in listing.output
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [row for row in rows if row["id"] == player["id"]] == [player]


def test_command_and_webhook_players_from_the_cli(runner: CliRunner) -> None:
    group = add_group(runner)
    command = created(
        runner, "player", "add", unique("tdarr"), "--type", "command", "--group",
        str(group["id"]), "--command", "/bin/true", "--time-limit", "120",
    )  # fmt: skip
    webhook = run(
        runner, "player", "add", unique("hook"), "--type", "webhook", "--group",
        str(group["id"]), "--url", "http://hooks.local:9000/scan", "--header-name",
        "Authorization", "--header-value", "Bearer hdr-s3cret",
    )  # fmt: skip
    hook = json.loads(webhook.stdout)
    longer = run(runner, "player", "update", str(command["id"]), "--time-limit", "300")
    cleared = run(
        runner, "player", "update", str(hook["id"]), "--header-name", "", "--header-value", ""
    )

    assert (command["command"], command["time_limit"], command["url"]) == ("/bin/true", 120, "")
    assert (hook["header_name"], hook["has_header_value"]) == ("Authorization", True)
    assert "hdr-s3cret" not in webhook.output + run(runner, "player", "list").output
    assert longer.exit_code == 0 and cleared.exit_code == 0
    shown = {row["id"]: row for row in listed(runner, "player")}
    assert shown[command["id"]]["time_limit"] == 300
    assert (shown[hook["id"]]["header_name"], shown[hook["id"]]["has_header_value"]) == (
        None,
        False,
    )


def test_player_add_validation_failures(runner: CliRunner) -> None:
    group = add_group(runner)
    base = ["player", "add", unique("player"), "--type", "kodi", "--group", str(group["id"])]

    bad_url = runner.invoke(main, [*base, "--url", "kodi.local:8080"])
    assert bad_url.exit_code == 1 and "url" in bad_url.stderr

    elsewhere = ["player", "add", unique("player"), "--type", "kodi", "--url", "http://k:1"]
    unknown_group = runner.invoke(main, [*elsewhere, "--group", str(MISSING_ID)])
    assert unknown_group.exit_code == 1 and "group_id" in unknown_group.stderr

    bad_type = runner.invoke(main, [*base, "--url", "http://k:1", "--type", "vlc"])
    assert bad_type.exit_code == 2 and "--type" in bad_type.stderr


def row_of(runner: CliRunner, resource: str, row_id: int) -> list[dict[str, Any]]:
    """The rows of ``RESOURCE list`` with ``row_id``: one, or none once deleted."""
    return [row for row in listed(runner, resource) if row["id"] == row_id]


def refused(runner: CliRunner, *args: str) -> Result:
    """Run a command that must fail with one line on stderr and no traceback."""
    result = runner.invoke(main, list(args))
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.output
    return result


def test_library_update_changes_only_what_is_given(runner: CliRunner, tmp_path: Path) -> None:
    library = add_library(runner, tmp_path, "--kind", "tv", "--anchor", ".anchor")
    name = unique("renamed")

    renamed = created(runner, "library", "update", str(library["id"]), "--name", name)
    assert renamed == {**library, "name": name}
    assert row_of(runner, "library", library["id"]) == [renamed]

    args = ["library", "update", str(library["id"])]
    changed = created(
        runner, *args, "--anchor", "a/.mounted", "--anchor", ".b", "--follow-links", "--watch"
    )
    assert changed == {
        **renamed,
        "anchors": ["a/.mounted", ".b"],
        "follow_links": True,
        "watch": True,
    }
    cleared = created(
        runner, *args, "--no-anchors", "--no-follow-links", "--no-watch", "--kind", "movies"
    )
    assert cleared == {
        **renamed,
        "anchors": [],
        "follow_links": False,
        "watch": False,
        "kind": "movies",
    }
    assert row_of(runner, "library", library["id"]) == [cleared]


def test_library_update_to_a_system_path_needs_confirming(
    runner: CliRunner, tmp_path: Path
) -> None:
    library = add_library(runner, tmp_path)
    args = ["library", "update", str(library["id"]), "--path", f"/var/{library['name']}"]
    args.append("--allow-missing")  # the system-folder check is under test
    result = refused(runner, *args)
    assert "system folder /var" in result.stderr and "--confirm-system-path" in result.stderr
    assert row_of(runner, "library", library["id"]) == [library]
    moved = created(runner, *args, "--confirm-system-path")
    assert moved == {**library, "path": f"/var/{library['name']}"}


def test_mapping_and_group_update_change_only_what_is_given(
    runner: CliRunner, tmp_path: Path
) -> None:
    token = uuid4().hex[:8]
    mapping = created(runner, "mapping", "add", "radarr", f"/downloads/{token}", f"/data/{token}")
    moved = created(runner, "mapping", "update", str(mapping["id"]), "--to", f"/media/{token}")
    assert moved == {**mapping, "to": f"/media/{token}"}
    assert row_of(runner, "mapping", mapping["id"]) == [moved]

    first, second = add_library(runner, tmp_path), add_library(runner, tmp_path)
    group = add_group(runner, "--library", str(first["id"]), "--map", "/data=smb://nas/data")
    args = ["group", "update", str(group["id"])]
    served = created(runner, *args, "--library", str(second["id"]))
    assert served == {**group, "library_ids": [second["id"]]}
    remapped = created(runner, *args, "--map", "/data/tv=nfs://nas/tv")
    assert remapped == {**served, "path_mappings": [{"from": "/data/tv", "to": "nfs://nas/tv"}]}
    emptied = created(runner, *args, "--no-libraries", "--no-maps")
    assert emptied == {**remapped, "library_ids": [], "path_mappings": []}
    assert row_of(runner, "group", group["id"]) == [emptied]


def test_update_without_options_or_with_a_list_and_its_clear_flag_is_a_usage_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    library = add_library(runner, tmp_path)
    nothing = runner.invoke(main, ["library", "update", str(library["id"])])
    assert nothing.exit_code == 2 and "nothing to change" in nothing.stderr
    both = ["library", "update", str(library["id"]), "--anchor", ".a", "--no-anchors"]
    assert runner.invoke(main, both).exit_code == 2
    assert row_of(runner, "library", library["id"]) == [library]


@pytest.mark.parametrize(
    ("resource", "command", "option", "value", "body"),
    [
        ("libraries", "library", "--path", "media/films", {"path": "media/films"}),
        ("path-mappings", "mapping", "--source", "Radarr!", {"source": "Radarr!"}),
        ("player-groups", "group", "--library", str(MISSING_ID), {"library_ids": [MISSING_ID]}),
        ("players", "player", "--url", "kodi.local:8080", {"url": "kodi.local:8080"}),
        ("players", "player", "--group", str(MISSING_ID), {"group_id": MISSING_ID}),
    ],
)
def test_update_refuses_a_bad_value_with_the_api_message(
    runner: CliRunner, client: FlaskClient, tmp_path: Path,
    resource: str, command: str, option: str, value: str, body: dict[str, Any],
) -> None:  # fmt: skip
    group = add_group(runner)
    rows = {
        "libraries": lambda: add_library(runner, tmp_path),
        "path-mappings": lambda: created(runner, "mapping", "add", "radarr", "/m", unique("/d")),
        "player-groups": lambda: group,
        "players": lambda: created(
            runner,
            "player",
            "add",
            unique("player"),
            "--type",
            "kodi",
            "--url",
            "http://kodi.local:8080",
            "--group",
            str(group["id"]),
        ),  # fmt: skip
    }
    row = rows[resource]()
    api = client.patch(f"/api/v1/{resource}/{row['id']}", json=body, headers={"X-Api-Key": API_KEY})
    assert api.status_code == 422, api.get_data(as_text=True)

    result = refused(runner, command, "update", str(row["id"]), option, value)
    assert api.get_json()["detail"] in result.stderr
    assert row_of(runner, command, row["id"]) == [row]


def test_player_update_never_shows_the_password(runner: CliRunner) -> None:
    group, other = add_group(runner), add_group(runner)
    player = created(
        runner,
        "player", "add", unique("player"), "--type", "kodi", "--url", "http://k:8080",
        "--group", str(group["id"]), "--username", "kodi", "--password", "old-s3cret",
    )  # fmt: skip
    args = ["player", "update", str(player["id"])]

    result = run(runner, *args, "--password", "new-s3cret", "--group", str(other["id"]))
    assert "s3cret" not in result.output
    changed = json.loads(result.stdout)
    assert changed == {**player, "group_id": other["id"]}  # has_password stays true
    with read_session() as session:
        row = session.get(Player, player["id"])
        assert row is not None and (row.password, row.username) == ("new-s3cret", "kodi")

    bad = refused(runner, *args, "--password", "bad-s3cret", "--url", "nowhere")
    assert "url" in bad.stderr and "s3cret" not in bad.output

    changed = created(runner, *args, "--password", "", "--username", "", "--disabled")
    assert changed == {**player, "group_id": other["id"], "has_password": False,
                       "username": None, "enabled": False}  # fmt: skip
    assert "s3cret" not in run(runner, "player", "list").output
    assert row_of(runner, "player", player["id"]) == [changed]


def test_delete_removes_each_resource(runner: CliRunner, tmp_path: Path) -> None:
    library = add_library(runner, tmp_path)
    mapping = created(runner, "mapping", "add", "sonarr", unique("/tv"), unique("/data/tv"))
    group = add_group(runner, "--library", str(library["id"]))
    player = created(
        runner,
        "player", "add", unique("player"), "--type", "kodi", "--url", "http://k:8080",
        "--group", str(group["id"]), "--password", "s3cret",
    )  # fmt: skip
    kept = created(
        runner, "player", "add", unique("player"), "--type", "kodi", "--url", "http://k:8080",
        "--group", str(group["id"]),
    )  # fmt: skip

    for command, row in (("player", player), ("mapping", mapping), ("library", library)):
        result = run(runner, command, "delete", str(row["id"]))
        assert "s3cret" not in result.output
        assert json.loads(result.stdout) == {**row, "deleted": True}
        assert row_of(runner, command, row["id"]) == []
    assert row_of(runner, "group", group["id"])[0]["library_ids"] == []

    # A group goes with its players.
    assert json.loads(run(runner, "group", "delete", str(group["id"])).stdout)["deleted"] is True
    assert row_of(runner, "group", group["id"]) == []
    assert row_of(runner, "player", kept["id"]) == []


@pytest.mark.parametrize(
    ("command", "noun"),
    [("library", "library"), ("mapping", "path mapping"), ("group", "player group"),
     ("player", "player")],
)  # fmt: skip
@pytest.mark.parametrize("action", [["delete"], ["update", "--name", "x"]])
def test_delete_or_update_of_an_unknown_id_fails(
    runner: CliRunner, command: str, noun: str, action: list[str]
) -> None:
    if command == "mapping" and action[0] == "update":
        action = ["update", "--to", "/x"]
    result = refused(runner, command, action[0], str(MISSING_ID), *action[1:])
    assert f"no {noun} with id {MISSING_ID}" in result.stderr


@pytest.fixture
def kodi() -> Iterator[FakeKodi]:
    fake = FakeKodi(username="kodi", password="secret")
    yield fake
    fake.stop()


def _add_kodi(runner: CliRunner, kodi: FakeKodi, password: str) -> dict[str, Any]:
    group = add_group(runner)
    return created(
        runner,
        "player", "add", unique("kodi"), "--type", "kodi", "--url", kodi.url,
        "--group", str(group["id"]), "--username", "kodi", "--password", password,
    )  # fmt: skip


def test_player_test_reachable(runner: CliRunner, kodi: FakeKodi) -> None:
    player = _add_kodi(runner, kodi, "secret")
    result = run(runner, "player", "test", str(player["id"]))
    assert f"{player['name']}: reachable" in result.stdout
    assert "13.5.0" in result.stdout
    assert "secret" not in result.output
    assert kodi.methods() == ["JSONRPC.Ping", "JSONRPC.Version"]


def test_player_test_names_each_library_and_exits_1_when_one_is_outside_kodis_sources(
    runner: CliRunner, kodi: FakeKodi, tmp_path: Path
) -> None:
    movies = add_library(runner, tmp_path)
    tv = add_library(runner, tmp_path, "--kind", "tv")
    group = add_group(
        runner, "--library", str(movies["id"]), "--library", str(tv["id"]),
        "--map", f"{tmp_path}=smb://nas",
    )  # fmt: skip
    kodi.add_source(f"smb://nas/{movies['name']}", "movies", disk=tmp_path / movies["name"])
    player = created(
        runner,
        "player", "add", unique("kodi"), "--type", "kodi", "--url", kodi.url,
        "--group", str(group["id"]), "--username", "kodi", "--password", "secret",
    )  # fmt: skip

    result = runner.invoke(main, ["player", "test", str(player["id"])])

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{player['name']}: reachable")
    assert lines[1] == (
        f"  library {movies['name']}: ok: smb://nas/{movies['name']} is in Kodi's"
        f" smb://nas/{movies['name']}/"
    )
    assert lines[2].startswith(
        f"  library {tv['name']}: PROBLEM: smb://nas/{tv['name']} is outside every library"
        " folder of this Kodi"
    )
    assert "video source with its content set to TV shows" in lines[2]


def test_player_test_wrong_password_fails(runner: CliRunner, kodi: FakeKodi) -> None:
    wrong = unique("wrong")
    player = _add_kodi(runner, kodi, wrong)
    result = runner.invoke(main, ["player", "test", str(player["id"])])
    assert result.exit_code == 1
    assert player["name"] in result.stderr and "credentials refused" in result.stderr
    assert wrong not in result.output and "secret" not in result.output


def test_player_test_unreachable_fails(runner: CliRunner, kodi: FakeKodi) -> None:
    player = _add_kodi(runner, kodi, "secret")
    kodi.stop()
    result = runner.invoke(main, ["player", "test", str(player["id"])])
    assert result.exit_code == 1
    assert "cannot reach" in result.stderr and "secret" not in result.output


def test_player_test_unknown_player_fails(runner: CliRunner) -> None:
    result = runner.invoke(main, ["player", "test", str(MISSING_ID)])
    assert result.exit_code == 1
    assert f"no player with id {MISSING_ID}" in result.stderr


def _queued_job_id(output: str, job_type: str = "library-scan") -> str:
    match = re.fullmatch(rf"queued {job_type} job (\S+)\n", output)
    assert match, output
    return match.group(1)


def _job_count() -> int:
    with read_session() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def _queued_payload(output: str, job_type: str) -> dict[str, Any]:
    """The payload of the ``job_type`` job ``output`` says was queued, which is then
    cancelled: no worker here, and its message must not run in a later module's worker."""
    job_id = _queued_job_id(output, job_type)
    try:
        with read_session() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.type == job_type
            return dict(job.payload)
    finally:
        cancel_job(job_id)


def test_library_scan_prints_a_job_that_exists(runner: CliRunner, tmp_path: Path) -> None:
    library = add_library(runner, tmp_path)
    output = run(runner, "library", "scan", str(library["id"])).stdout
    assert _queued_payload(output, "library-scan") == {"library_id": library["id"]}


def test_library_scan_of_an_unknown_library_fails(runner: CliRunner) -> None:
    result = runner.invoke(main, ["library", "scan", str(MISSING_ID)])
    if result.exit_code == 0:
        cancel_job(_queued_job_id(result.stdout))
    assert result.exit_code == 1
    assert str(MISSING_ID) in result.stderr


def _movies_and_tv(runner: CliRunner, tmp_path: Path) -> tuple[Path, Path]:
    """A movies library and a TV library under ``tmp_path``."""
    movies, tv = tmp_path / "movies", tmp_path / "tv"
    for folder, kind in ((movies, "movies"), (tv, "tv")):
        folder.mkdir()
        run(runner, "library", "add", unique("lib"), str(folder), "--kind", kind)
    return movies, tv


def test_scan_queues_a_manual_scan_of_the_paths_given(runner: CliRunner, tmp_path: Path) -> None:
    movies, tv = _movies_and_tv(runner, tmp_path)
    output = run(runner, "scan", f"{movies}/Heat (1995)", f" {tv}/Severance/Season 01 ").stdout
    assert _queued_payload(output, "manual-scan") == {
        "dirs": [f"{movies}/Heat (1995)", f"{tv}/Severance/Season 01"]
    }


def test_scan_takes_a_relative_path_from_the_current_folder(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    movies, _ = _movies_and_tv(runner, tmp_path)
    token = uuid4().hex[:8]
    run(runner, "mapping", "add", "manual", f"smb://nas/{token}", str(movies))
    run(runner, "mapping", "add", "manual", f"C:\\{token}", str(movies))
    monkeypatch.chdir(movies)
    given = [
        "../movies/Heat (1995)",
        "Ronin (1998)",
        f"smb://nas/{token}/Alien",
        f"C:\\{token}\\Alien",
    ]
    output = run(runner, "scan", *given).stdout
    assert _queued_payload(output, "manual-scan")["dirs"] == [
        f"{tmp_path}/movies/Heat (1995)",
        f"{tmp_path}/movies/Ronin (1998)",
        f"smb://nas/{token}/Alien",  # another host's paths: the manual mappings place them
        f"C:\\{token}\\Alien",
    ]


def test_scan_of_a_path_in_no_library_queues_nothing_and_names_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    movies, _ = _movies_and_tv(runner, tmp_path)
    before = _job_count()

    result = runner.invoke(main, ["scan", f"{movies}/Heat (1995)", "/etc", "/tmp/nowhere"])

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: nothing queued: /etc (as we see it: /etc) is in no")
    assert "/tmp/nowhere (as we see it: /tmp/nowhere) is in no library" in result.stderr
    assert "Heat (1995)" not in result.stderr  # in its library: not refused
    assert "orchestrator library add" in result.stderr
    assert _job_count() == before


def test_scan_needs_a_path(runner: CliRunner) -> None:
    assert runner.invoke(main, ["scan"]).exit_code == 2


@pytest.mark.parametrize(
    "paths", [["/movies/Heat (1995)", "  "], ["/m/x" * 2000], [f"/m/{n}" for n in range(101)]]
)
def test_scan_refuses_empty_long_or_too_many_paths_without_a_traceback(
    runner: CliRunner, paths: list[str]
) -> None:
    result = runner.invoke(main, ["scan", *paths])

    assert result.exit_code == 1, result.output
    assert "invalid payload for manual-scan" in result.stderr
    assert "Traceback" not in result.output
