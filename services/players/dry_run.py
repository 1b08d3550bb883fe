"""The ``log`` player: a dry run that sends nothing and records what would have been sent.

A household adds it first, to try the whole set-up (Radarr's webhook, the path mappings,
the library, the scan, the group's path mapping) before a real player is pointed at: each
notify-players job then shows, for this player, the folder as the players would be told it
and the requests each player type would get for it. Its URL is not used.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from services.players.base import NoLibrary, ScanTarget, require_directory
from services.players.jellyfin import media_updated_body
from services.players.kodi import kodi_directory, parent_directory
from services.players.plex import refresh_request
from services.players.webhook import change_body

DRY_RUN = "dry run: nothing was sent to any player"


class LogClient(NoLibrary):
    """Records a notification instead of sending it."""

    TYPES = {"log": "Log only (dry run)"}

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def ping(self) -> dict[str, Any]:
        """Always reachable: nothing is asked of anything."""
        return {"version": "dry run"}

    def notify(self, target: ScanTarget) -> dict[str, Any]:
        """What each player type would be sent for ``target``; nothing is sent."""
        require_directory(target.directory)
        return {
            "directory": target.directory,
            "update_type": target.update_type,
            "content": target.content,
            "would_send": would_send(target),
            "verified": False,
            "verification": DRY_RUN,
        }


def would_send(target: ScanTarget) -> dict[str, list[str]]:
    """The requests each player type would get for ``target`` (Kodi's also depend on what
    its library holds: a clean only where it lists media the disk lost)."""
    folder = kodi_directory(target.directory)
    gone = target.gone
    kodi = []
    library = "AudioLibrary" if target.content == "music" else "VideoLibrary"
    if target.content == "music" and target.update_type != "Created":
        kodi.append("AudioLibrary.Clean (Kodi cleans music only whole)")
    elif target.update_type != "Created":
        kodi.append(f"VideoLibrary.Clean {folder} (if Kodi lists media no longer on disk)")
    if not gone:
        kodi.append(f"Files.GetDirectory {parent_directory(folder)}")
        kodi.append(f"{library}.Scan {folder}")
    path = target.directory.rstrip("/\\") or target.directory
    body = json.dumps(media_updated_body(path, target.update_type))
    jellyfin = [f"POST /Library/Media/Updated {body}"]
    # Plex is asked once per library section holding the folder: its key stands for them.
    section = "/sections/<key>/"
    plex = [f"GET {refresh_request('0', target.directory).replace('/sections/0/', section)}"]
    webhook = [f"POST {json.dumps(change_body(target))}"]
    # As a shell would show it: the command gets each argument as it is, with no shell.
    command = [shlex.join(["<executable>", target.directory, target.update_type, target.library])]
    return {
        "kodi": kodi,
        "jellyfin": jellyfin,
        "emby": jellyfin,
        "plex": plex,
        "webhook": webhook,
        "command": command,
    }
