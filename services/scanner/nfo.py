"""Kodi NFO files and folder names: a movie's title, year and ids."""

from __future__ import annotations

import html
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

# NFO parsing
MAX_NFO_BYTES = 1024 * 1024
# Everything up to the last closing root tag is the XML; Radarr may append URL lines after it.
_XML_PART_RE = re.compile(rb"^.*</(?:movie|episodedetails|tvshow)\s*>", re.S)
_TAG_RE = re.compile(
    r"<(title|year|premiered|uniqueid|tmdbid|imdbid|id)\b([^<>]*)>([^<]*)</\1\s*>", re.I
)
_TYPE_ATTR_RE = re.compile(r"""\btype\s*=\s*["']([^"']*)["']""", re.I)
_ID_TAGS = {"title", "year", "premiered", "uniqueid", "tmdbid", "imdbid", "id"}
_TMDB_URL_RE = re.compile(r"themoviedb\.org/movie/(\d+)", re.I)
_IMDB_URL_RE = re.compile(r"imdb\.com/title/(tt\d+)", re.I)
_IMDB_ID_RE = re.compile(r"tt\d{5,}")
_YEAR_RE = re.compile(r"\s*(\d{4})(?!\d)")

# Folder names: "Title (Year)" or scene style "Title.Year.tags"
_YEAR = r"(?P<year>(?:18|19|20)\d{2})"
_PAREN_YEAR_RE = re.compile(rf"^(?P<title>.*?)\s*[(\[]{_YEAR}[)\]]")
_BARE_YEAR_RE = re.compile(rf"^(?P<title>.+)[ ._-]{_YEAR}(?P<rest>[ ._-].*)?$")
_ID_TAG_RE = re.compile(r"\s*[\[{](?:tmdb|imdb|tvdb)(?:id)?[-=][^\]}]*[\]}]", re.I)


@dataclass(frozen=True)
class NfoInfo:
    """Identity of a movie as far as an NFO (or its folder name) tells it."""

    title: str | None = None
    year: int | None = None
    tmdb_id: int | None = None
    imdb_id: str | None = None  # "tt0133093"


def parse_nfo(path: str | os.PathLike[str]) -> NfoInfo:
    """Title, year and ids from a Kodi NFO; never raises (unreadable or garbage -> empty)."""
    try:
        with open(path, "rb") as nfo:
            data = nfo.read(MAX_NFO_BYTES)
    except OSError:
        return NfoInfo()
    xml_part = _XML_PART_RE.match(data)
    trailing = data[xml_part.end() :] if xml_part else data
    tags = _tags_from_xml(xml_part.group()) if xml_part else None
    if tags is None:
        tags = _tags_from_regex(data.decode("utf-8", "replace"))
    info = _info_from_tags(tags)
    urls = trailing.decode("latin-1")
    tmdb_url, imdb_url = _TMDB_URL_RE.search(urls), _IMDB_URL_RE.search(urls)
    return NfoInfo(
        title=info.title,
        year=info.year,
        tmdb_id=info.tmdb_id or (int(tmdb_url.group(1)) if tmdb_url else None),
        imdb_id=info.imdb_id or (imdb_url.group(1).lower() if imdb_url else None),
    )


def parse_folder_name(name: str) -> tuple[str | None, int | None]:
    """Title and year of a folder name: "The Matrix (1999)" or scene style "The.Matrix.1999.1080p".

    A bare year counts only in a dotted name or when more tags follow it, so that
    "Blade Runner 2049" keeps its number in the title.
    """
    name = _ID_TAG_RE.sub("", name).strip()
    match = _PAREN_YEAR_RE.search(name)
    if match:
        return _clean_title(match["title"]), int(match["year"])
    match = _BARE_YEAR_RE.match(name)
    if match and (match["rest"] or " " not in name):
        return _clean_title(match["title"]), int(match["year"])
    return _clean_title(name), None


def _clean_title(raw: str) -> str | None:
    if " " not in raw:
        raw = raw.replace(".", " ").replace("_", " ")
    title = " ".join(raw.split()).strip(" -_.([")
    return title or None


def _tags_from_xml(xml: bytes) -> list[tuple[str, str, str]] | None:
    try:
        root = ET.fromstring(xml.strip())
    except (ET.ParseError, ValueError):
        return None
    return [
        (child.tag, child.get("type", ""), child.text or "")
        for child in root
        if child.tag in _ID_TAGS
    ]


def _tags_from_regex(text: str) -> list[tuple[str, str, str]]:
    tags = []
    for tag, attrs, value in _TAG_RE.findall(text):
        type_attr = _TYPE_ATTR_RE.search(attrs)
        tags.append((tag.lower(), type_attr.group(1) if type_attr else "", html.unescape(value)))
    return tags


def _info_from_tags(tags: list[tuple[str, str, str]]) -> NfoInfo:
    first: dict[str, str] = {}
    for tag, id_type, text in tags:
        key = f"uniqueid:{id_type.lower()}" if tag == "uniqueid" else tag
        if text.strip():
            first.setdefault(key, text.strip())
    return NfoInfo(
        title=first.get("title"),
        year=_year(first.get("year")) or _year(first.get("premiered")),
        tmdb_id=_tmdb_id(first.get("uniqueid:tmdb")) or _tmdb_id(first.get("tmdbid")),
        # Legacy <id> held the IMDb id for movies; a number there is ambiguous (tvdb for TV).
        imdb_id=_imdb_id(first.get("uniqueid:imdb"))
        or _imdb_id(first.get("imdbid"))
        or _imdb_id(first.get("id")),
    )


def _year(text: str | None) -> int | None:
    match = _YEAR_RE.match(text or "")
    year = int(match.group(1)) if match else 0
    return year or None


def _tmdb_id(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and int(text) > 0 else None


def _imdb_id(text: str | None) -> str | None:
    return text.lower() if text and _IMDB_ID_RE.fullmatch(text.lower()) else None
