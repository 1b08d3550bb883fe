"""The SQL database of this process: the tables' base and its sessions, migrations, and the
private files of the data dir (the database, the generated secrets). How a database is opened
is ``orchestrator/database.py``; which one a process uses, ``orchestrator/runtime.py``.
"""
