"""The operator commands, one module per noun; ``OPERATOR_COMMANDS`` lists them."""

import click

from sevenfold.cli.commands.audit import audit_group
from sevenfold.cli.commands.ca_certificate import ca_certificate_group
from sevenfold.cli.commands.device import device_commands
from sevenfold.cli.commands.device_capability import DEVICE_CAPABILITY_COMMANDS
from sevenfold.cli.commands.device_group import device_group_group
from sevenfold.cli.commands.device_update import DEVICE_UPDATE_COMMANDS
from sevenfold.cli.commands.failure_event import (
    download_error_report,
    failure_event_group,
)
from sevenfold.cli.commands.image import image_group
from sevenfold.cli.commands.image_package import image_package_group
from sevenfold.cli.commands.image_signing_key import image_signing_key_group
from sevenfold.cli.commands.login import login_command, logout_command
from sevenfold.cli.commands.manufacturer_key import manufacturer_key_group
from sevenfold.cli.commands.os_release import os_release_group
from sevenfold.cli.commands.product import product_group
from sevenfold.cli.commands.product_measurement import measurement_group
from sevenfold.cli.commands.rollout import rollout_group
from sevenfold.cli.commands.tenant import tenant_group
from sevenfold.cli.commands.token import token_group
from sevenfold.cli.commands.update_key import update_key_group

product_group.add_command(measurement_group)
tenant_group.add_command(download_error_report)
for _command in DEVICE_UPDATE_COMMANDS + DEVICE_CAPABILITY_COMMANDS:
    device_commands.add_command(_command)

OPERATOR_COMMANDS: tuple[click.Command, ...] = (
    login_command,
    logout_command,
    tenant_group,
    token_group,
    device_commands,
    manufacturer_key_group,
    product_group,
    device_group_group,
    os_release_group,
    rollout_group,
    failure_event_group,
    audit_group,
    ca_certificate_group,
    image_signing_key_group,
    image_package_group,
    image_group,
    update_key_group,
)
