"""Scanning media folders on disk: movie folders, TV season folders, album folders, NFO
files."""

from services.scanner.albums import AlbumScan, audio_under, scan_album_folder
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
    "AlbumScan",
    "EpisodeFile",
    "MediaFile",
    "MovieScan",
    "NfoInfo",
    "audio_under",
    "SeasonScan",
    "parse_folder_name",
    "parse_nfo",
    "scan_album_folder",
    "scan_movie_folder",
    "scan_season_folder",
    "videos_under",
]
