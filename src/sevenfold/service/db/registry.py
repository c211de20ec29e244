"""Imports every domain's models so ``Base.metadata`` is complete (Alembic, tests)."""

from sqlalchemy import MetaData

from sevenfold.service.attestation import models as attestation_models
from sevenfold.service.audit import models as audit_models
from sevenfold.service.ca import models as ca_models
from sevenfold.service.capabilities import models as capability_models
from sevenfold.service.db.base import Base
from sevenfold.service.deployments import models as deployment_models
from sevenfold.service.devices import models as device_models
from sevenfold.service.failures import models as failure_models
from sevenfold.service.images import models as image_models
from sevenfold.service.manufacturing import models as manufacturing_models
from sevenfold.service.operations import models as operation_models
from sevenfold.service.products import models as product_models
from sevenfold.service.releases import models as release_models
from sevenfold.service.rollouts import models as rollout_models
from sevenfold.service.tenants import models as tenant_models
from sevenfold.service.tokens import models as token_models
from sevenfold.service.updates import models as update_models

MODEL_MODULES = (
    tenant_models,
    token_models,
    audit_models,
    product_models,
    device_models,
    operation_models,
    ca_models,
    attestation_models,
    manufacturing_models,
    image_models,
    release_models,
    deployment_models,
    update_models,
    failure_models,
    rollout_models,
    capability_models,
)


def all_metadata() -> MetaData:
    """Return the metadata with every table registered."""
    return Base.metadata
