"""API shapes of failure reports (docs/failures.md §2).

The device's upload is not described by a Pydantic model: it is parsed by the one
strict parser both ends share (``protocol.failures.parse_failure_batch``), so the
service accepts exactly what the protocol defines and nothing looser.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class FailureReportAnswer(BaseModel):
    """What the service answers an upload: every event id it now holds (new or
    already stored), so the device may remove them from its queue."""

    acknowledged: list[str]
    stored: int
    duplicates: int


class FailureEventOut(BaseModel):
    """One stored failure record.

    Azure Sphere's error-report names: ``kind`` is the Event Category,
    ``event_type`` and ``event_class`` its Event Type and Class, ``count`` the Event
    Count, ``first_at`` / ``last_at`` the Start and End Time.
    """

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    event_id: str
    device_id: str
    kind: str
    event_type: str
    event_class: str
    event_key: str
    count: int
    first_at: datetime
    last_at: datetime
    description: str
    component_id: str | None
    image_id: str | None
    os_version: str | None
    os_release_id: str | None
    device_group_id: str | None
    product_id: str | None
    exit_code: int | None
    signal: int | None
    network_kind: str | None
    host: str | None
    received_at: datetime


class FailureEventPage(BaseModel):
    """A page of failure events, newest first, with the cursor of the next page."""

    items: list[FailureEventOut]
    next_cursor: str | None


class FailureQueueOut(BaseModel):
    """What a device's failure queue said about itself at its last upload.

    ``dropped_total`` is the highest count of records the device ever reported
    dropping because its queue was full: failures the service will never see.
    """

    device_id: str
    dropped_total: int
    last_upload_at: datetime | None
