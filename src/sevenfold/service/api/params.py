"""Validated path and query parameter types shared by the routers.

Identifiers are restricted to their real alphabet before they reach a query, so odd
bytes (NUL, control characters) are a 422, never a database error.
"""

from typing import Annotated

from fastapi import Path, Query

ID_PATTERN = r"^[A-Za-z0-9-]{1,128}$"

ResourceId = Annotated[str, Path(min_length=1, max_length=128, pattern=ID_PATTERN)]
OptionalIdQuery = Annotated[
    str | None, Query(min_length=1, max_length=128, pattern=ID_PATTERN)
]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[
    str | None, Query(min_length=1, max_length=300, pattern=r"^[A-Za-z0-9_-]+$")
]
