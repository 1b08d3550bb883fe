"""Getting messages to workers: the Celery app and its broker, the relay and its stamps, group
commit, routing, the broker's memory watch and beat's lease.
"""
