"""The Sevenfold security service: an ASGI app built by ``create_app``."""
