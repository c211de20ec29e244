"""The fleet simulator: simulated devices and operators against a real service.

It reaches the service over HTTP only (an import-linter contract forbids importing
``sevenfold.service``, ``sevenfold.cli`` or ``sevenfold.entry``), exactly as real
devices and operator tools would.

* ``device``: ``SimDevice`` (a software-DICE device on the agent's key store, in
  its own state directory) and ``Fleet``.
* ``attestation``: ``FleetAgents``, the agent's real ``Agent`` per device.
* ``updates``: ``FleetUpdaters``, the agent's real updater per device over mTLS,
  with a ``dir`` install backend in each device's state directory.
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
