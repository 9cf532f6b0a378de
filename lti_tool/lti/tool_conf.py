"""pylti1p3's tool configuration, kept in the database: many client ids per issuer, many deployments each.

Every login and launch asks for its registration and deployment; the answers are kept in each process for
`LTI_REGISTRATION_CACHE_SECONDS` as plain snapshots (never ORM objects, which belong to one request's session).
A launch is never accepted on a snapshot alone: `record_launch` checks in the same query that reads the launch's
rows that the deployment and its registration are still there and active, and forgets the snapshots when not.
So a registration switched off or removed is refused at its next launch; only its logins (which grant nothing)
and the framing of its login and launch pages may follow the old snapshot for up to the cache lifetime.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from pylti1p3.deployment import Deployment as LibDeployment
from pylti1p3.registration import Registration as LibRegistration
from pylti1p3.tool_config import ToolConfAbstract

from lti_tool.core.keys import key_store
from lti_tool.extensions import db
from lti_tool.lti.models import Deployment, Registration, platform_origins


@dataclass(frozen=True)
class RegistrationRecord:
    """What a login or launch reads of an active registration (a snapshot, safe to share between requests)."""

    id: int
    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    auth_audience: str | None
    key_set_url: str | None
    key_set: dict | None
    product_family_code: str | None
    is_default_for_issuer: bool
    manages_catalog: bool
    is_active: bool = True

    @property
    def frame_origins(self) -> set[str]:
        """Origins allowed to frame the tool's pages for this platform (as `Registration.frame_origins`)."""
        return platform_origins(self.issuer, self.auth_login_url, self.auth_token_url)

    @classmethod
    def of(cls, registration: Registration) -> RegistrationRecord:
        return cls(id=registration.id, name=registration.name, issuer=registration.issuer,
                   client_id=registration.client_id, auth_login_url=registration.auth_login_url,
                   auth_token_url=registration.auth_token_url, auth_audience=registration.auth_audience,
                   key_set_url=registration.key_set_url, key_set=registration.key_set,
                   product_family_code=registration.product_family_code,
                   is_default_for_issuer=registration.is_default_for_issuer,
                   manages_catalog=registration.manages_catalog, is_active=registration.is_active)


@dataclass(frozen=True)
class DeploymentRecord:
    """An active deployment of an active registration (a snapshot)."""

    id: int
    registration_id: int
    deployment_id: str
    is_active: bool = True


# (kind, ...) -> (monotonic expiry, snapshot); only found (active) ones are kept.
_recent: dict[tuple, tuple[float, Any]] = {}
_RECENT_LIMIT = 1024  # an issuer/client id pair per entry: far more than any installation registers


def forget_registrations() -> None:
    """Read registrations and deployments from the database again (this process; the others check at launch)."""
    _recent.clear()


def _remembered(key: tuple, load):
    lifetime = current_app.config.get("LTI_REGISTRATION_CACHE_SECONDS", 0)
    if lifetime <= 0:
        return load()
    now = time.monotonic()
    hit = _recent.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = load()
    if value is not None:
        if len(_recent) >= _RECENT_LIMIT:
            _recent.clear()
        _recent[key] = (now + lifetime, value)
    return value


def find_registration(issuer: str, client_id: str | None) -> RegistrationRecord | None:
    """The active registration for an issuer and client id.

    The platform may omit client_id at login (LTI 1.3 Core §5.1.1): then the issuer's only registration,
    or the one marked default for it, is used.
    """
    def load():
        registration = _find_registration(issuer, client_id)
        return RegistrationRecord.of(registration) if registration is not None else None

    return _remembered(("registration", issuer, client_id), load)


def _find_registration(issuer: str, client_id: str | None) -> Registration | None:
    query = db.select(Registration).where(Registration.issuer == issuer, Registration.is_active.is_(True))
    if client_id:
        return db.session.scalar(query.where(Registration.client_id == client_id))
    candidates = db.session.scalars(query).all()
    if len(candidates) == 1:
        return candidates[0]
    defaults = [r for r in candidates if r.is_default_for_issuer]
    return defaults[0] if len(defaults) == 1 else None


def find_deployment(issuer: str, client_id: str | None, deployment_id: str) -> DeploymentRecord | None:
    """The active deployment `deployment_id` of the active registration for this issuer and client id.

    Not found under a registration kept from earlier: that snapshot may be of a registration since removed and
    registered again (another id), so the lookup is made once more from the database.
    """
    for attempt in range(2):
        registration = find_registration(issuer, client_id)
        if registration is None:
            return None
        deployment = _remembered(("deployment", registration.id, deployment_id),
                                 lambda registration=registration: _find_deployment(registration.id, deployment_id))
        if deployment is not None or attempt:
            return deployment
        forget_registrations()
    return None


def _find_deployment(registration_id: int, deployment_id: str) -> DeploymentRecord | None:
    deployment = db.session.scalar(db.select(Deployment).where(
        Deployment.registration_id == registration_id,
        Deployment.deployment_id == deployment_id,
        Deployment.is_active.is_(True),
    ))
    return DeploymentRecord(deployment.id, deployment.registration_id, deployment.deployment_id) \
        if deployment is not None else None


def active_registration_of(deployment_pk: int) -> RegistrationRecord | None:
    """The registration of this deployment when both are active: the check of every page's launch reference.

    Kept like the launch's lookups: a switch-off made through the tool counts at once in this process, else within
    LTI_REGISTRATION_CACHE_SECONDS (a launch itself is always checked against the database, see record_launch).
    """
    def load():
        registration = db.session.scalar(
            db.select(Registration).join(Deployment, Deployment.registration_id == Registration.id)
            .where(Deployment.id == deployment_pk, Deployment.is_active.is_(True), Registration.is_active.is_(True))
        )
        return RegistrationRecord.of(registration) if registration is not None else None

    return _remembered(("registration-of-deployment", deployment_pk), load)


def to_library_registration(registration: RegistrationRecord) -> LibRegistration:
    """The pylti1p3 view of a registration, with the tool's signing key and its kid (Canvas needs the kid)."""
    signing = key_store().signing_key()
    lib = (
        LibRegistration()
        .set_issuer(registration.issuer)
        .set_client_id(registration.client_id)
        .set_auth_login_url(registration.auth_login_url)
        .set_auth_token_url(registration.auth_token_url)
        .set_key_set_url(registration.key_set_url)
        .set_key_set(registration.key_set)
        .set_tool_private_key(signing.private_pem)
        .set_tool_public_key(signing.public_pem)
    )
    if registration.auth_audience:
        lib.set_auth_audience(registration.auth_audience)
    return lib


class DatabaseToolConf(ToolConfAbstract):
    """Registrations and deployments from the database (one issuer, many clients)."""

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss, *args, **kwargs):
        registration = find_registration(iss, None)
        return to_library_registration(registration) if registration else None

    def find_registration_by_params(self, iss, client_id, *args, **kwargs):
        registration = find_registration(iss, client_id)
        return to_library_registration(registration) if registration else None

    def find_deployment(self, iss, deployment_id):
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(self, iss, deployment_id, client_id, *args, **kwargs):
        deployment = find_deployment(iss, client_id, deployment_id)
        return LibDeployment().set_deployment_id(deployment.deployment_id) if deployment else None

    def get_jwks(self, iss=None, client_id=None, **kwargs):
        return key_store().jwks()
