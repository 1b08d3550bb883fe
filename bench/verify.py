"""What verifying a real Kodi's library costs a chain (``python -m bench.verify``).

A real Kodi 20 (Debian's package, headless; the test suite's harness) sees a movie library
through a symbolic link standing in for an SMB share. Each trial is a new movie folder and
its Radarr Download webhook, through the whole chain (webhook, scan-movie, notify-players)
on a worker of concurrency 2; the trials alternate between a worker that checks Kodi's
library (``ORCH_PLAYER_VERIFY_TIMEOUT`` 20 s, the default) and one that does not (0: the
request is sent and the job completes), in rounds, so that the machine's noise falls on
both. Reported: the chain's time (webhook answered to notify-players completed) and
notify-players' own run time, median and p95, with verification on and off, and whether
Kodi's library held every movie at the end. ``ORCH_SCAN_DELAY`` is 0 here: the 2 s a
scan waits by default would only add the same to both (with it, notify-players' wait for
the second of the folder's last change to be over, up to 1 s here, would be over before).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench import API_KEY, REPO_ROOT, Stack, finish, log, parse_args, percentile, wait_until

ROUNDS = 4  # rounds of (on, off), each with its own worker
HEADERS = {"X-Api-Key": API_KEY}


def _movie(root: Path, number: int) -> str:
    """A movie folder as Radarr leaves it (video, NFO); returns its folder name."""
    name = f"Bench Movie {number} (2001)"
    folder = root / name
    folder.mkdir()
    (folder / f"{name}.mkv").write_bytes(b"\0" * 4096)
    (folder / f"{name}.nfo").write_text(
        f"<movie><title>Bench Movie {number}</title><year>2001</year>"
        f'<uniqueid type="tmdb" default="true">{100000 + number}</uniqueid></movie>'
    )
    return name


def _trial(api: str, root: Path, number: int) -> dict[str, float]:
    """One Download through the chain; its chain and notify-players seconds."""
    from orchestrator.jobs.models import Job
    from orchestrator.storage.db import read_session

    name = _movie(root, number)
    body = json.loads((REPO_ROOT / "tests" / "fixtures" / "radarr_download.json").read_text())
    body["movie"].update({"folderPath": f"/movies/{name}", "title": name[:-7], "tmdbId": 0})
    body["movie"].pop("imdbId", None)
    body["movieFile"].update({"path": f"/movies/{name}/{name}.mkv", "size": 4096})
    started = time.monotonic()
    answer = httpx.post(f"{api}/api/webhooks/radarr", json=body, headers=HEADERS, timeout=10)
    answer.raise_for_status()
    root_id = answer.json()["job_id"]

    found: list[Job] = []

    def notify_done() -> bool:
        with read_session() as session:
            job = (
                session.query(Job)
                .filter(Job.root_id == root_id, Job.type == "notify-players")
                .one_or_none()
            )
            if job is not None and job.status in ("completed", "failed"):
                session.expunge(job)
                found.append(job)
        return bool(found)

    wait_until(notify_done, 60, 0.01, f"the chain of {name}")
    chain = time.monotonic() - started
    [job] = found
    if job.status != "completed":
        raise RuntimeError(f"notify-players of {name} {job.status}: {job.error}")
    assert job.started_at and job.completed_at
    return {
        "chain_s": chain,
        "notify_s": (job.completed_at - job.started_at).total_seconds(),
        "verified": float(bool(job.result["groups"][0]["verified"])),
    }


def _summary(trials: list[dict[str, float]]) -> dict[str, Any]:
    chain = [t["chain_s"] for t in trials]
    notify = [t["notify_s"] for t in trials]
    return {
        "trials": len(trials),
        "chain_median_ms": statistics.median(chain) * 1000,
        "chain_p95_ms": percentile(chain, 95) * 1000,
        "notify_median_ms": statistics.median(notify) * 1000,
        "notify_p95_ms": percentile(notify, 95) * 1000,
        "verified": int(sum(t["verified"] for t in trials)),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__ or "", argv)
    per_round = 5 if args.quick else 15
    from tests.real_kodi import KodiSource, RealKodi, kodi_missing

    reason = kodi_missing()
    if reason:
        raise SystemExit(f"verify: a real Kodi cannot run here: {reason} (make kodi)")
    with Stack("verify") as stack:
        share = stack.root / "share" / "movies"
        share.mkdir(parents=True)
        view = stack.root / "kodi-view"
        view.mkdir()
        (view / "movies").symlink_to(share, target_is_directory=True)
        kodi = stack.enter_context(
            RealKodi(stack.root / "kodi", [KodiSource(str(view / "movies"), "movies")])
        )
        _broker, env = stack.platform(ORCH_SCAN_DELAY="0")
        from orchestrator.storage.db import write_session
        from orchestrator.storage.migrate import upgrade
        from services.catalog.models import (
            GroupPathMapping,
            Library,
            ManagerPathMapping,
            Player,
            PlayerGroup,
        )

        upgrade()
        with write_session() as session:
            library = Library(name="Movies", path=str(share), kind="movies")
            group = PlayerGroup(name="living room", libraries=[library])
            group.path_mappings = [
                GroupPathMapping(from_path=str(share), to_path=str(view / "movies"))
            ]
            group.players = [
                Player(name="kodi", type="kodi", url=kodi.url, username=kodi.username,
                       password=kodi.password)
            ]  # fmt: skip
            mapping = ManagerPathMapping(source="radarr", from_path="/movies", to_path=str(share))
            session.add_all([library, group, mapping])
        _api, port = stack.api(env)
        api = f"http://127.0.0.1:{port}"
        trials: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
        number = 0
        for round_number in range(ROUNDS):
            for mode, timeout in (("on", "20"), ("off", "0")):
                worker = stack.worker(
                    f"worker-{mode}-{round_number}",
                    {**env, "ORCH_PLAYER_VERIFY_TIMEOUT": timeout},
                    concurrency=2,
                )
                for _ in range(per_round):
                    number += 1
                    trials[mode].append(_trial(api, share, number))
                worker.terminate()
                worker.wait(30)
                log(f"verify: round {round_number + 1} {mode}: {per_round} chains")
        in_kodi = len(kodi.call("VideoLibrary.GetMovies")["movies"])
    on, off = _summary(trials["on"]), _summary(trials["off"])
    results = {
        "quick": args.quick,
        "rounds": ROUNDS,
        "per_round": per_round,
        "on": on,
        "off": off,
        "added_chain_median_ms": on["chain_median_ms"] - off["chain_median_ms"],
        "added_chain_p95_ms": on["chain_p95_ms"] - off["chain_p95_ms"],
        "movies_in_kodi": in_kodi,
        "movies_sent": number,
    }
    log(
        f"verify: chain median {on['chain_median_ms']:.0f} ms on, {off['chain_median_ms']:.0f}"
        f" ms off; p95 {on['chain_p95_ms']:.0f} / {off['chain_p95_ms']:.0f} ms;"
        f" {in_kodi} of {number} movies in Kodi"
    )
    return finish(results, args.out)


if __name__ == "__main__":
    main()
