"""The web server's plumbing: gunicorn's settings (the relay in its master) and the worker
class that reads request heads in its event loop.
"""
