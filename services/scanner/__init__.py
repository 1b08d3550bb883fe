"""Scanning media folders on disk: movie folders, TV season folders, NFO files."""

from services.scanner.folders import (
    EpisodeFile,
    MediaFile,
    MovieScan,
    SeasonScan,
    scan_movie_folder,
    scan_season_folder,
    videos_under,
)
from services.scanner.nfo import NfoInfo, parse_folder_name, parse_nfo

__all__ = [
    "EpisodeFile",
    "MediaFile",
    "MovieScan",
    "NfoInfo",
    "SeasonScan",
    "parse_folder_name",
    "parse_nfo",
    "scan_movie_folder",
    "scan_season_folder",
    "videos_under",
]
