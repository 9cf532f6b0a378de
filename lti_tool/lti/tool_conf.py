"""pylti1p3's tool configuration, kept in the database: many client ids per issuer, many deployments each."""

from __future__ import annotations

from flask import g, has_request_context
from pylti1p3.deployment import Deployment as LibDeployment
from pylti1p3.registration import Registration as LibRegistration
from pylti1p3.tool_config import ToolConfAbstract

from lti_tool.core.keys import key_store
from lti_tool.extensions import db
from lti_tool.lti.models import Deployment, Registration


def find_registration(issuer: str, client_id: str | None) -> Registration | None:
    """The active registration for an issuer and client id.

    The platform may omit client_id at login (LTI 1.3 Core §5.1.1): then the issuer's only registration,
    or the one marked default for it, is used.
    """
    if has_request_context():
        memo = g.setdefault("lti_registrations", {})
        if memo.get((issuer, client_id)) is None:  # one launch asks several times; the database answers once
            memo[(issuer, client_id)] = _find_registration(issuer, client_id)
        return memo[(issuer, client_id)]
    return _find_registration(issuer, client_id)


def _find_registration(issuer: str, client_id: str | None) -> Registration | None:
    query = db.select(Registration).where(Registration.issuer == issuer, Registration.is_active.is_(True))
    if client_id:
        return db.session.scalar(query.where(Registration.client_id == client_id))
    candidates = db.session.scalars(query).all()
    if len(candidates) == 1:
        return candidates[0]
    defaults = [r for r in candidates if r.is_default_for_issuer]
    return defaults[0] if len(defaults) == 1 else None


def find_deployment(issuer: str, client_id: str | None, deployment_id: str) -> Deployment | None:
    registration = find_registration(issuer, client_id)
    if registration is None:
        return None
    if has_request_context():
        memo = g.setdefault("lti_deployments", {})
        if memo.get((registration.id, deployment_id)) is None:
            memo[(registration.id, deployment_id)] = _find_deployment(registration, deployment_id)
        return memo[(registration.id, deployment_id)]
    return _find_deployment(registration, deployment_id)


def _find_deployment(registration: Registration, deployment_id: str) -> Deployment | None:
    return db.session.scalar(
        db.select(Deployment).where(
            Deployment.registration_id == registration.id,
            Deployment.deployment_id == deployment_id,
            Deployment.is_active.is_(True),
        )
    )


def to_library_registration(registration: Registration) -> LibRegistration:
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
