"""The SQL database: engines and sessions, migrations, and the private files of the data dir
(the database, the generated secrets).
"""
