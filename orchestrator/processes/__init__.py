"""The processes of a deployment: the embedded Redis, the commands that start each service,
`up`'s supervisor, and readiness waits.
"""
