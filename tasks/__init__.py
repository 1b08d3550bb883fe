"""Job handlers of the media pipeline, one module per job type.

The platform imports this package in the API, the worker and the CLI; each
job module it names below registers its job type with ``@job``.
"""
