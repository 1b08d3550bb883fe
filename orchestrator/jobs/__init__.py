"""The job core: the job row and its lifecycle, the unit of work that writes it, submitting
(dispatch), running (runner, the Celery task, the context a handler gets), the registry of
job types, and the platform's own maintenance jobs.
"""
