"""Rollouts: waves of an OS release or a deployment, and the policy that halts them."""
