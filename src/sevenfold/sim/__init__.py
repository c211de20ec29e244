"""The fleet simulator: simulated devices and operators against a real service.

It reaches the service over HTTP only (an import-linter contract forbids importing
``sevenfold.service``, ``sevenfold.cli`` or ``sevenfold.entry``), exactly as real
devices and operator tools would.

* ``device``: ``SimDevice`` (an in-memory P-256 identity key) and ``Fleet``.
* ``client``: ``OperatorClient``, async httpx calls on ``/api/v1``.
* ``scenario``: ``FleetOperator`` runs the foundation scenario, returns a
  ``FleetSummary``; ``report`` renders it.
"""

from sevenfold.sim.client import OperatorClient
from sevenfold.sim.device import Fleet, SimDevice
from sevenfold.sim.scenario import FleetOperator, FleetPlan, FleetSummary

__all__ = [
    "Fleet",
    "FleetOperator",
    "FleetPlan",
    "FleetSummary",
    "OperatorClient",
    "SimDevice",
]
