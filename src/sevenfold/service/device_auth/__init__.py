"""Device authentication: the device certificate (mTLS) on every device route."""
