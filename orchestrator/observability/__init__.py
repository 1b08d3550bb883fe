"""What operators see: job events and the streams' doorbell, metrics kept in SQL, logs, short
tracebacks, and the background threads that write them.
"""
