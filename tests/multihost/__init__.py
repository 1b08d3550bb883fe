"""Multi-host tests: hosts as network namespaces on a private bridge (see network.py)."""
