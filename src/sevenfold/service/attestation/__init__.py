"""Attestation: approved measurements per product, nonces, evidence, certificates."""
