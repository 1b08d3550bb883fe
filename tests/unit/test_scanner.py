"""services.scanner on real temporary folders: which file is the movie, and what the rest is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.folder_signature import folder_signature
from services.scanner import (
    MediaFile,
    NfoInfo,
    parse_folder_name,
    parse_nfo,
    scan_movie_folder,
    scan_season_folder,
)
from services.scanner.folders import videos_under

MATRIX_NFO = """<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<movie>
  <title>The Matrix</title>
  <year>1999</year>
  <uniqueid type="tmdb">603</uniqueid>
  <uniqueid type="imdb" default="true">tt0133093</uniqueid>
  <actor><name>Keanu Reeves</name></actor>
</movie>
"""


def write(path: Path, size: int = 10, text: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is None:
        path.write_bytes(b"x" * size)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def names(files: list[MediaFile]) -> list[str]:
    return [os.path.basename(f.path) for f in files]


def test_typical_radarr_folder_finds_the_movie_and_classifies_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "The Matrix (1999)"
    base = "The Matrix (1999) Bluray-1080p"
    main = write(folder / f"{base}.mkv", 5000)
    write(folder / f"{base}.nfo", text=MATRIX_NFO)
    for art in ("poster.jpg", "fanart.jpg", "clearlogo.png", f"{base}-poster.jpg"):
        write(folder / art)
    write(folder / f"{base}.en.srt")
    write(folder / f"{base}.eng.forced.srt")
    write(folder / f"{base}-trailer.mp4", 3000)
    write(folder / "Sample" / "the.matrix.sample.mkv", 200)
    write(folder / "Featurettes" / "Making Of.mkv", 9000)
    write(folder / "Behind The Scenes" / "Bullet Time.mkv", 9000)
    write(folder / ".actors" / "Keanu_Reeves.jpg")
    write(folder / f"._{base}.mkv", 99999)
    write(folder / "Thumbs.db", 99999)
    write(folder / ".DS_Store")
    write(folder / "screenshot.jpg")

    scan = scan_movie_folder(str(folder) + "/")

    assert scan.folder == str(folder)
    assert scan.exists is True
    assert scan.disc is None
    assert [(v.path, v.kind, v.size, v.part) for v in scan.videos] == [
        (str(main), "video", 5000, None)
    ]
    assert scan.videos[0].mtime == pytest.approx(main.stat().st_mtime)
    assert scan.nfo is not None and names([scan.nfo]) == [f"{base}.nfo"]
    assert scan.info == NfoInfo("The Matrix", 1999, 603, "tt0133093")
    assert sorted((os.path.basename(a.path), a.art_type) for a in scan.artwork) == [
        (f"{base}-poster.jpg", "poster"),
        ("clearlogo.png", "clearlogo"),
        ("fanart.jpg", "fanart"),
        ("poster.jpg", "poster"),
    ]
    assert [(os.path.basename(s.path), s.language, s.flags) for s in scan.subtitles] == [
        (f"{base}.en.srt", "en", ()),
        (f"{base}.eng.forced.srt", "eng", ("forced",)),
    ]
    assert [(os.path.basename(t.path), t.kind) for t in scan.trailers] == [
        (f"{base}-trailer.mp4", "trailer")
    ]
    assert len(scan.files) == 1 + 1 + 4 + 2 + 1
    assert {f.kind for f in scan.files} == {"video", "nfo", "artwork", "subtitle", "trailer"}


def test_samples_and_extras_by_name_are_never_the_movie(tmp_path: Path) -> None:
    write(tmp_path / "Alien.1979.mkv", 1000)
    write(tmp_path / "Alien.1979.sample.mkv", 5000)
    write(tmp_path / "alien-sample.mkv", 5000)
    write(tmp_path / "sample.mkv", 5000)
    write(tmp_path / "Alien.1979-featurette.mkv", 5000)
    write(tmp_path / "Alien.1979-deleted.mp4", 5000)
    write(tmp_path / "movie-trailer.mkv", 5000)

    scan = scan_movie_folder(tmp_path)

    assert names(scan.videos) == ["Alien.1979.mkv"]
    assert names(scan.trailers) == ["movie-trailer.mkv"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Movie (2001)-cd1.avi", "Movie (2001)-cd2.avi"),
        ("Movie (2001).part1.mkv", "Movie (2001).part2.mkv"),
        ("Movie (2001) disc 1.mkv", "Movie (2001) disc 2.mkv"),
    ],
)
def test_stacked_parts_are_all_listed_in_part_order(
    tmp_path: Path, first: str, second: str
) -> None:
    write(tmp_path / second, 3000)  # the larger part must not come first
    write(tmp_path / first, 2000)
    write(tmp_path / "Movie (2001).nfo", text="<movie><title>Stacked</title></movie>")
    write(tmp_path / "Movie (2001)-poster.jpg")
    write(tmp_path / "Movie (2001).en.srt")

    scan = scan_movie_folder(tmp_path)

    assert [(os.path.basename(v.path), v.part) for v in scan.videos] == [(first, 1), (second, 2)]
    # files named after the stack title (Kodi's fallback) belong to the movie
    assert scan.info.title == "Stacked"
    assert [a.art_type for a in scan.artwork] == ["poster"]
    assert [s.language for s in scan.subtitles] == ["en"]


def test_part_in_a_single_title_is_not_a_stack(tmp_path: Path) -> None:
    write(tmp_path / "Harry Potter and the Deathly Hallows Part 1 (2010).mkv", 3000)
    write(tmp_path / "Other Thing-cd1.mkv", 100)

    scan = scan_movie_folder(tmp_path)

    assert [(os.path.basename(v.path), v.part) for v in scan.videos] == [
        ("Harry Potter and the Deathly Hallows Part 1 (2010).mkv", None)
    ]


def test_bluray_folder(tmp_path: Path) -> None:
    folder = tmp_path / "Heat (1995)"
    index = write(folder / "BDMV" / "index.bdmv", 300)
    write(folder / "BDMV" / "index.nfo", text="<movie><uniqueid type='tmdb'>949</uniqueid></movie>")
    write(folder / "BDMV" / "STREAM" / "00001.m2ts", 90000)
    write(folder / "poster.jpg")

    scan = scan_movie_folder(folder)

    assert scan.disc == "bdmv"
    assert [v.path for v in scan.videos] == [str(index)]
    assert scan.nfo is not None and scan.nfo.path == str(folder / "BDMV" / "index.nfo")
    assert scan.info == NfoInfo("Heat", 1995, 949, None)
    assert [a.art_type for a in scan.artwork] == ["poster"]


def test_movie_nfo_beside_a_disc_folder_wins(tmp_path: Path) -> None:
    write(tmp_path / "BDMV" / "index.bdmv")
    write(tmp_path / "BDMV" / "index.nfo", text="<movie><title>Disc</title></movie>")
    write(tmp_path / "movie.nfo", text="<movie><title>Folder</title></movie>")

    scan = scan_movie_folder(tmp_path)

    assert scan.nfo is not None and scan.nfo.path == str(tmp_path / "movie.nfo")
    assert scan.info.title == "Folder"


def test_dvd_folder_below_or_at_the_movie_folder(tmp_path: Path) -> None:
    below = tmp_path / "Brazil (1985)"
    ifo = write(below / "VIDEO_TS" / "VIDEO_TS.IFO", 20)
    write(below / "VIDEO_TS" / "VTS_01_1.VOB", 90000)
    write(below / "VIDEO_TS" / "VIDEO_TS.nfo", text="<movie><title>Brazil</title></movie>")

    scan = scan_movie_folder(below)

    assert (scan.disc, [v.path for v in scan.videos]) == ("video_ts", [str(ifo)])
    assert scan.nfo is not None and scan.nfo.path == str(below / "VIDEO_TS" / "VIDEO_TS.nfo")

    at_root = scan_movie_folder(below / "VIDEO_TS")
    assert (at_root.disc, [v.path for v in at_root.videos]) == ("video_ts", [str(ifo)])
    assert at_root.info == NfoInfo("Brazil", 1985)  # year from the parent folder's name


def test_bluray_layout_root_is_the_movie_folder(tmp_path: Path) -> None:
    folder = tmp_path / "Heat (1995)"
    index = write(folder / "index.bdmv")
    write(folder / "STREAM" / "00001.m2ts", 90000)

    scan = scan_movie_folder(folder)

    assert (scan.disc, [v.path for v in scan.videos]) == ("bdmv", [str(index)])


def test_movie_nfo_wins_over_video_nfo(tmp_path: Path) -> None:
    write(tmp_path / "Film.mkv", 100)
    write(tmp_path / "Film.nfo", text="<movie><title>From video nfo</title></movie>")
    write(tmp_path / "movie.nfo", text="<movie><title>From movie.nfo</title></movie>")

    assert scan_movie_folder(tmp_path).info.title == "From movie.nfo"

    (tmp_path / "movie.nfo").unlink()
    assert scan_movie_folder(tmp_path).info.title == "From video nfo"


def test_unrelated_nfo_is_ignored_and_the_folder_name_is_used(tmp_path: Path) -> None:
    folder = tmp_path / "Alien (1979)"
    write(folder / "Alien.mkv", 100)
    write(folder / "release-group.nfo", text="<movie><title>Wrong</title></movie>")

    scan = scan_movie_folder(folder)

    assert scan.nfo is None
    assert scan.info == NfoInfo("Alien", 1979)


def test_nfo_with_only_url_lines(tmp_path: Path) -> None:
    folder = tmp_path / "The Matrix (1999)"
    write(folder / "The Matrix.mkv", 100)
    write(
        folder / "The Matrix.nfo",
        text="https://www.themoviedb.org/movie/603\nhttps://www.imdb.com/title/tt0133093/\n",
    )

    scan = scan_movie_folder(folder)

    assert scan.info == NfoInfo("The Matrix", 1999, 603, "tt0133093")


def test_urls_after_the_xml_fill_missing_ids_only(tmp_path: Path) -> None:
    nfo = write(
        tmp_path / "movie.nfo",
        text="<movie><title>X</title><uniqueid type='tmdb'>1</uniqueid></movie>\n"
        "https://www.themoviedb.org/movie/603-the-matrix\n"
        "https://www.imdb.com/title/tt0133093/\n",
    )

    assert parse_nfo(nfo) == NfoInfo("X", None, 1, "tt0133093")


def test_malformed_nfo_keeps_what_a_regex_can_find(tmp_path: Path) -> None:
    nfo = write(
        tmp_path / "movie.nfo",
        text="<movie><title>Alien &amp; Co</title><year>1979</year>"
        '<uniqueid type="tmdb">348</uniqueid><plot>broken <b></movie>',
    )

    assert parse_nfo(nfo) == NfoInfo("Alien & Co", 1979, 348, None)


def test_garbage_missing_and_oversized_nfos_never_raise(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.nfo"
    garbage.write_bytes(b"\x00\xff<<>>&&\x89PNG")
    assert parse_nfo(garbage) == NfoInfo()
    assert parse_nfo(tmp_path / "missing.nfo") == NfoInfo()

    huge = write(
        tmp_path / "huge.nfo",
        text="<movie><title>Big</title><plot>" + "a" * (2 * 1024 * 1024) + "</plot></movie>",
    )
    assert parse_nfo(huge) == NfoInfo(title="Big")


def test_legacy_id_tags_and_premiered(tmp_path: Path) -> None:
    legacy = write(
        tmp_path / "a.nfo",
        text="<movie><title>The Matrix</title><premiered>1999-03-31</premiered>"
        "<id>tt0133093</id><tmdbid>603</tmdbid></movie>",
    )
    assert parse_nfo(legacy) == NfoInfo("The Matrix", 1999, 603, "tt0133093")

    imdbid = write(tmp_path / "b.nfo", text="<movie><imdbid>tt0078748</imdbid><id>8</id></movie>")
    assert parse_nfo(imdbid) == NfoInfo(imdb_id="tt0078748")

    both = write(
        tmp_path / "c.nfo",
        text="<movie><tmdbid>1</tmdbid><uniqueid type='TMDB'>603</uniqueid>"
        "<year>0</year><premiered>1999-03-31</premiered></movie>",
    )
    assert parse_nfo(both) == NfoInfo(year=1999, tmdb_id=603)


def test_tv_nfo_roots_are_read(tmp_path: Path) -> None:
    nfo = write(
        tmp_path / "e.nfo",
        text="<episodedetails><title>Pilot</title><uniqueid type='imdb'>tt0959621</uniqueid>"
        "</episodedetails>",
    )
    assert parse_nfo(nfo) == NfoInfo(title="Pilot", imdb_id="tt0959621")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("The Matrix (1999)", ("The Matrix", 1999)),
        ("The Matrix (1999) {imdb-tt0133093}", ("The Matrix", 1999)),
        ("The.Matrix.1999.1080p.BluRay.x264-GRP", ("The Matrix", 1999)),
        ("The.Matrix.1999", ("The Matrix", 1999)),
        ("Blade.Runner.2049.2017.2160p", ("Blade Runner 2049", 2017)),
        ("2012 (2009)", ("2012", 2009)),
        ("1917", ("1917", None)),
        ("Blade Runner 2049", ("Blade Runner 2049", None)),
        ("Alien", ("Alien", None)),
        ("Alien {tmdb-348}", ("Alien", None)),
        ("", (None, None)),
    ],
)
def test_parse_folder_name(name: str, expected: tuple[str | None, int | None]) -> None:
    assert parse_folder_name(name) == expected


def test_missing_folder_or_a_file_path(tmp_path: Path) -> None:
    missing = scan_movie_folder(tmp_path / "Gone Girl (2014)")
    assert (missing.exists, missing.files, missing.disc) == (False, [], None)
    assert missing.info == NfoInfo("Gone Girl", 2014)

    a_file = write(tmp_path / "Heat (1995).mkv")
    assert scan_movie_folder(a_file).exists is False
    assert scan_season_folder(a_file).exists is False
    season = scan_season_folder(tmp_path / "Season 01")
    assert (season.exists, season.episodes, season.subtitles, season.nfos) == (False, [], [], [])


def test_progress_is_reported_up_to_done(tmp_path: Path) -> None:
    write(tmp_path / "Film.mkv")
    calls: list[tuple[float, str]] = []

    scan_movie_folder(tmp_path, progress=lambda percent, message: calls.append((percent, message)))

    percents = [percent for percent, _ in calls]
    assert percents == sorted(percents) and len(percents) >= 3
    assert calls[-1] == (100, "done")


def test_clearlogo_is_not_logo(tmp_path: Path) -> None:
    write(tmp_path / "Film.mkv", 100)
    for art in (
        "clearlogo.png",
        "logo.png",
        "Film-clearlogo.png",
        "Film-logo.png",
        "discart.png",
        "folder.jpg",
        "mylogo.png",
        "Other-logo.png",
        "clearlogo-2.png",
        "poster.gif",
    ):
        write(tmp_path / art)

    scan = scan_movie_folder(tmp_path)

    assert sorted((os.path.basename(a.path), a.art_type) for a in scan.artwork) == [
        ("Film-clearlogo.png", "clearlogo"),
        ("Film-logo.png", "logo"),
        ("clearlogo.png", "clearlogo"),
        ("discart.png", "discart"),
        ("folder.jpg", "poster"),
        ("logo.png", "logo"),
    ]


def test_subtitle_names_and_subs_folder(tmp_path: Path) -> None:
    write(tmp_path / "Film.mkv", 100)
    for sub in (
        "Film.srt",
        "Film.pt-BR.sdh.srt",
        "Film.en.hi.cc.ass",
        "Film.txt",
        "readme.txt",
        "Other.en.srt",
        "Subs/2_English.srt",
        "Subs/Film.fr.forced.sub",
        "Subs/notes.txt",
    ):
        write(tmp_path / sub)

    scan = scan_movie_folder(tmp_path)

    assert sorted(
        (os.path.relpath(s.path, tmp_path), s.language, s.flags) for s in scan.subtitles
    ) == [
        ("Film.en.hi.cc.ass", "en", ("hi", "cc")),
        ("Film.pt-BR.sdh.srt", "pt-BR", ("sdh",)),
        ("Film.srt", None, ()),
        ("Film.txt", None, ()),
        ("Subs/2_English.srt", None, ()),
        ("Subs/Film.fr.forced.sub", "fr", ("forced",)),
    ]


def test_season_folder(tmp_path: Path) -> None:
    folder = tmp_path / "Show" / "Season 02"
    write(folder / "Show - S02E01 - Pilot.mkv", 500)
    write(folder / "Show.s02e02e03.720p.mkv", 500)
    write(folder / "Show 2x04 Title.avi", 500)
    write(folder / "Show.E05.Finale.mkv", 500)
    write(folder / "Show.S02E01.sample.mkv", 50)
    write(folder / "Sample" / "Show.S02E06.mkv", 50)
    write(folder / "Show - S02E01 - Pilot.en.srt")
    write(folder / "Show - S02E01 - Pilot.nfo", text="<episodedetails/>")
    write(folder / "season.nfo", text="<season/>")
    write(folder / "._Show.S02E07.mkv")

    scan = scan_season_folder(folder)

    assert scan.exists is True
    assert sorted((os.path.basename(e.file.path), e.season, e.episodes) for e in scan.episodes) == [
        ("Show - S02E01 - Pilot.mkv", 2, (1,)),
        ("Show 2x04 Title.avi", 2, (4,)),
        ("Show.E05.Finale.mkv", 2, ()),
        ("Show.s02e02e03.720p.mkv", 2, (2, 3)),
    ]
    assert all(e.file.kind == "video" and e.file.size == 500 for e in scan.episodes)
    assert [(os.path.basename(s.path), s.language) for s in scan.subtitles] == [
        ("Show - S02E01 - Pilot.en.srt", "en")
    ]
    assert names(scan.nfos) == ["Show - S02E01 - Pilot.nfo", "season.nfo"]


@pytest.mark.parametrize(
    ("folder_name", "season"), [("Specials", 0), ("S03", 3), ("Season 1", 1), ("Misc", None)]
)
def test_season_number_from_the_folder_name(
    tmp_path: Path, folder_name: str, season: int | None
) -> None:
    write(tmp_path / folder_name / "Show.E05.mkv")
    write(tmp_path / folder_name / "Show.S07E01.mkv")

    scan = scan_season_folder(tmp_path / folder_name)

    seasons = {os.path.basename(e.file.path): e.season for e in scan.episodes}
    assert seasons["Show.E05.mkv"] == season
    # a season in the file name beats the folder's
    assert seasons["Show.S07E01.mkv"] == 7


@pytest.mark.parametrize("unit", ["<id", "<uniqueid type='tmdb'", "<title>x"])
def test_a_hostile_nfo_of_a_mebibyte_is_read_in_one_pass(tmp_path: Path, unit: str) -> None:
    """An NFO of ``'<id' * 50000`` (150 KB) used to take 24 s: the tag pattern scanned to
    the end of the file from every ``<``. A mebibyte of it would outlast the job's time
    limit on every attempt; read in one pass it takes a fraction of a second."""
    nfo = tmp_path / "movie.nfo"
    nfo.write_text(unit * (1024 * 1024 // len(unit)))
    assert parse_nfo(nfo).tmdb_id is None


def test_a_folder_nested_past_the_recursion_limit_is_walked(tmp_path: Path) -> None:
    """Folder walks use a stack: a folder nested ~1,000 deep used to raise RecursionError
    and fail the whole library scan."""
    deep = current = tmp_path / "Movie (2000)"
    chain = [deep]
    for _ in range(1200):  # past Python's 1,000 frames, within PATH_MAX
        current = current / "d"
        chain.append(current)
    try:
        for folder in chain:
            folder.mkdir()
        (current / "Movie (2000).mkv").write_bytes(b"x")
        assert len(videos_under(deep)) == 1
        assert folder_signature(deep) is not None
    finally:
        # Removed here, deepest first: pytest's own clean-up (shutil.rmtree) recurses.
        (current / "Movie (2000).mkv").unlink(missing_ok=True)
        for folder in reversed(chain):
            if folder.exists():
                folder.rmdir()
