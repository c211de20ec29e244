"""Direct HTTPS with device client certificates (``sevenfold serve --tls-cert``)."""
