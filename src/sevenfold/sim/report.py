"""Plain-text rendering of a scenario's summary, for the demo and for people."""

from sevenfold.sim.scenario import FleetSummary


def fleet_lines(summary: FleetSummary) -> list[str]:
    """Describe what the fleet scenario did, one fact per line."""
    product = summary.product
    lines = [
        f"Fleet: {summary.fleet_size} simulated devices, each a software-DICE device "
        "(a UDS in its state directory; the device ID is its DeviceID public key)",
        f"Registered at the factory: {summary.registered} new, "
        f"{summary.already_registered} already known",
        f"Product: {product.name} ({product.id})",
    ]
    for operation in summary.operations:
        outcomes = ", ".join(
            f"{outcome} {count}" for outcome, count in sorted(operation.counts.items())
        )
        lines.append(
            f"Bulk claim into '{summary.claim_group}': operation "
            f"{operation.operation_id} {operation.status.value} "
            f"({operation.total} devices: {outcomes or 'none'})"
        )
    lines.append(
        f"Devices claimed: {summary.claimed}; moved to other groups: {summary.moved}"
    )
    lines.append("Device groups (devices listed by the service):")
    width = max((len(group.name) for group in summary.groups), default=0)
    lines.extend(
        f"  {group.name:<{width}}  {group.os_feed:<11}  {group.device_count:>5}  "
        f"{group.group_id}"
        for group in summary.groups
    )
    lines.append(f"Scenario took {summary.elapsed_s:.2f} s")
    return lines
