"""Fault-injection tests: killed workers, broker and database outages, duplicates, abuse."""
