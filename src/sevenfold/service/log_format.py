"""``sevenfold serve --output json``: the service's log as JSON lines on stderr.

One object per line (``at``, ``level``, ``logger``, ``message``, and ``exception``
when there is one), for log shippers. The default (``table``) keeps uvicorn's own
text format. Nothing here logs request bodies or headers, so no token reaches a log.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any


class JsonLogFormatter(logging.Formatter):
    """Formats a log record as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a single JSON line."""
        body: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, sort_keys=True)


def json_log_config() -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn's and the service's loggers."""
    handler = {"handlers": ["stderr"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonLogFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": handler,
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": handler,
            "sevenfold": handler,
        },
    }
