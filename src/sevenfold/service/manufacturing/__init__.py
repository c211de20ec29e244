"""Manufacturing: the manufacturer keys the platform trusts to vouch for devices."""
