"""Messages to people through Apprise (Discord, Telegram, ntfy, Pushover, email, JSON ...).

Apprise URLs hold secrets (tokens, passwords, webhook ids): a URL is shown only as
:func:`describe` makes it, its scheme and host with Apprise's own masking, never whole.
Apprise is imported when first used: loading it takes a third of a second, which no
command of a deployment without notifications should pay.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def split_urls(text: str) -> list[str]:
    """The URLs of ``text``, separated by commas, spaces or new lines (as Apprise reads them)."""
    if not text.strip():
        return []
    from apprise.utils.parse import parse_urls

    return list(parse_urls(text))


def describe(url: str) -> str:
    """``scheme://host`` of ``url``, with Apprise's masking of secret hosts: no credentials,
    no path, no query (a JSON target's headers may hold a token)."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    shown = plugin.url(privacy=True) if plugin else url
    parts = urlsplit(shown)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def check_urls(text: str) -> None:
    """Raise ``ValueError`` naming the first URL of ``text`` Apprise cannot use (by its
    position and scheme only)."""
    if not text.strip():
        return
    import apprise

    for position, url in enumerate(split_urls(text), start=1):
        if apprise.Apprise.instantiate(url) is None:
            label = url.partition("://")[0] + "://…" if "://" in url else "no scheme"
            raise ValueError(
                f"URL {position} ({label}) is not one Apprise can send to: see"
                " https://github.com/caronc/apprise/wiki for each service's URL"
            )


def send(url: str, title: str, body: str, failure: bool) -> bool:
    """Send one message to ``url``; True if the service took it."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        return False
    kind = apprise.NotifyType.FAILURE if failure else apprise.NotifyType.SUCCESS
    return bool(sender.notify(body=body, title=title, notify_type=kind))
