"""Celery settings, derived from the orchestrator's settings (docs/design.md §3.7).

Loaded by ``orchestrator.delivery.celery_app`` with ``config_from_object``; every
process that speaks to the broker (worker, beat, Flower, API, CLI) reads it.
"""

from __future__ import annotations

from orchestrator.jobs.priorities import DEFAULT_PRIORITY, message_priority
from orchestrator.jobs.registry import hard_time_limit
from orchestrator.runtime import current

_settings = current().settings

broker_url = _settings.effective_broker_url
# The job table is the record of results: workers store nothing more, and
# `celery -A orchestrator result <job id>` reads the job's row (orchestrator.jobs.results).
result_backend = "orchestrator.jobs.results:JobResults"
task_ignore_result = True
result_expires = None  # nothing stored, so nothing for beat to clean up

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

# The database is the record, the message only a trigger: acknowledge after the
# job ran, and give a message back when its worker dies (attempts are capped in SQL).
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

task_default_queue = "default"
task_create_missing_queues = True
# On Redis an unprioritised message would otherwise be the most urgent.
task_default_priority = message_priority(DEFAULT_PRIORITY, broker_url)
task_queue_max_priority = 10
task_routes = ("orchestrator.delivery.routing.route_task",)

broker_transport_options = {
    "queue_order_strategy": "priority",
    "priority_steps": list(range(10)),
    "sep": ":",
    "visibility_timeout": _settings.visibility_timeout,
    # A Redis that stops answering (a dead host, packets dropped) fails the call after
    # ORCH_NETWORK_TIMEOUT instead of hanging on an established socket for minutes.
    # (The worker's BRPOP waits 1 s at a time, well within it.)
    "socket_timeout": _settings.network_timeout,
    "socket_connect_timeout": _settings.network_timeout,
    "socket_keepalive": True,
}
broker_connection_retry_on_startup = True
# Publishing happens inside API requests: fail fast and let the sweep re-publish.
broker_connection_timeout = 2
task_publish_retry_policy = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

# Workers send task events (Flower's view). Publishers do not send "task-sent" (off
# by default in Celery too): it would double the broker writes of every submit.
worker_send_task_events = True
task_send_sent_event = False
# No STARTED state in the result backend: the database records the start, and
# storing it twice would cost two more Redis writes per job.
task_track_started = False

imports = tuple(_settings.job_modules)

# A job type without a time limit of its own has these (orchestrator.jobs.registry).
task_soft_time_limit = _settings.job_time_limit
task_time_limit = hard_time_limit(_settings.job_time_limit)

# Beat sends only while it holds the deployment's lease: one schedule however many run.
beat_scheduler = "orchestrator.delivery.beatlock:LeasedScheduler"
beat_schedule = {
    "orchestrator.redispatch": {
        "task": "orchestrator.redispatch",
        "schedule": _settings.sweep_interval,
        "options": {"queue": "critical", "expires": _settings.sweep_interval},
    },
}
