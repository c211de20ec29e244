"""Errors of the rollout package that never reach a client."""


class WebhookSecretError(Exception):
    """The rollout webhook's secret file is unusable (a start-up refusal; the
    message names the file, never its content)."""
