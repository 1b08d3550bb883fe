"""A client of the live API (real HTTP, the test key) for the end-to-end and reliability
tests that drive a webhook through a real worker: one class, so that a change to the API
is followed in one place."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import ApiServer, WorkerProcess
from tests.pipeline import FINAL, HEADERS


class Api:
    """A small client of the live API that keeps every answer it got in ``seen``.

    Each call asserts the status of a success and says the body when it is not. Given the
    worker, a wait that runs out ends with the end of the worker's log, to tell why.
    """

    def __init__(
        self, server: ApiServer, worker: WorkerProcess | None = None, read_timeout: float = 10
    ) -> None:
        self.url = server.url
        self.worker = worker
        self.read_timeout = read_timeout
        self.seen: list[str] = []

    def _keep(self, response: httpx.Response) -> httpx.Response:
        self.seen.append(f"{response.request.method} {response.request.url}\n{response.text}")
        return response

    def stuck(self, what: str) -> AssertionError:
        """A timeout, with the end of the worker's log (when known) to tell why."""
        if self.worker is None:
            return AssertionError(what)
        return AssertionError(f"{what}\n--- worker log (end) ---\n{self.worker.log()[-4000:]}")

    def post(self, path: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """POST ``body`` as JSON with the API key (unless ``headers`` is given); any status."""
        kwargs.setdefault("headers", HEADERS)
        return self._keep(httpx.post(f"{self.url}{path}", json=body, timeout=10, **kwargs))

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body``, expect 201; returns the created resource."""
        response = self.post(path, body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH ``body``, expect 200; returns the updated resource."""
        response = httpx.patch(f"{self.url}{path}", json=body, headers=HEADERS, timeout=10)
        assert self._keep(response).status_code == 200, response.text
        return dict(response.json())

    def text(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET ``path`` with the API key, expect 200; returns the response."""
        response = httpx.get(
            f"{self.url}{path}", headers=HEADERS, timeout=self.read_timeout, **kwargs
        )
        assert self._keep(response).status_code == 200, response.text
        return response

    def get(self, path: str) -> Any:
        """GET ``path``, expect 200; returns the decoded JSON."""
        return self.text(path).json()

    def job(self, job_id: str) -> dict[str, Any]:
        """One job, as ``/api/v1/jobs/<id>`` shows it."""
        return dict(self.get(f"/api/v1/jobs/{job_id}"))

    def _chain_jobs(self, root_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/api/v1/jobs?root_id={root_id}&limit=100")["items"])

    def chain(self, root_id: str, timeout: float = 40) -> list[dict[str, Any]]:
        """Every job of a chain in full once all are final, oldest first.

        The list gives summaries (no payload, result or checkpoint): each job is read whole.
        """
        deadline = time.monotonic() + timeout
        jobs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            jobs = self._chain_jobs(root_id)
            if jobs and all(j["status"] in FINAL for j in jobs):
                return [self.job(j["id"]) for j in sorted(jobs, key=lambda j: j["created_at"])]
            time.sleep(0.1)
        raise self.stuck(f"chain {root_id} not finished: {jobs}")

    def notify_job(self, root_id: str, timeout: float = 20) -> str:
        """The id of the chain's ``notify-players`` job, once it exists."""
        deadline = time.monotonic() + timeout
        jobs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            jobs = self._chain_jobs(root_id)
            notify = [j for j in jobs if j["type"] == "notify-players"]
            if notify:
                return str(notify[0]["id"])
            if jobs and all(j["status"] in FINAL for j in jobs):
                break  # the chain ended before notifying (a failed webhook or scan)
            time.sleep(0.05)
        raise self.stuck(f"chain {root_id} has no notify-players job: {jobs}")

    def webhook(self, source: str, body: dict[str, Any], **kwargs: Any) -> str:
        """Post a webhook of ``source``, expect 202 and ``queued``; returns the job id."""
        response = self.post(f"/api/webhooks/{source}", body, **kwargs)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"
        return str(response.json()["job_id"])

    def events(self, root_id: str, until: str, timeout: float = 10) -> str:
        """``/api/v1/events`` of a chain replayed from the start, read until ``until``."""
        text = ""
        headers = {**HEADERS, "Last-Event-ID": "0"}
        url = f"{self.url}/api/v1/events?root_id={root_id}"
        with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
            assert response.status_code == 200
            deadline = time.monotonic() + timeout
            for chunk in response.iter_text():
                text += chunk
                if until in text or time.monotonic() > deadline:
                    break
        self.seen.append(f"GET {url}\n{text}")
        assert until in text, text
        return text
