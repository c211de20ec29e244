"""Sevenfold: the seven properties of highly secured devices for Linux IoT fleets."""

__version__ = "0.1.0"
