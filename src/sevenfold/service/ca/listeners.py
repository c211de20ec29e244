"""Who hears of a new tenant CA: one registry per app, made by the app factory.

The direct-TLS server (``sevenfold serve --tls-cert``) subscribes, so a CA made
after it started (a new tenant's first, or a rotation's successor) is trusted for
client certificates at once, without a restart.
"""

import threading

from sevenfold.service.ca.service import CaCreated


class CaListeners:
    """Listeners told the PEM of each CA certificate the service makes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[CaCreated] = []

    def subscribe(self, listener: CaCreated) -> None:
        """Tell ``listener`` of every CA made from now on."""
        with self._lock:
            self._listeners.append(listener)

    def notify(self, pem: str) -> None:
        """Tell every listener of a new CA (listeners handle their own errors)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(pem)
