"""SQLAlchemy models, one module per artefact. Importing this package registers them all."""

from authserver.models.apikey import ApiKey
from authserver.models.audit import AuditChain, AuditEvent, PersonKey
from authserver.models.client import Client, ClientSecret
from authserver.models.device import DeviceAuthorization
from authserver.models.gateway import GatewayRule, GatewayUsage
from authserver.models.mfa import MfaChallenge, RecoveryCode, TotpCredential, WebAuthnCredential
from authserver.models.oauth import (
    AuthorizationCode,
    ConsentGrant,
    RefreshToken,
    RevokedAccessToken,
    UsedAssertion,
)
from authserver.models.par import DpopProof, PushedRequest
from authserver.models.rbac import Role, RolePermission, client_roles, user_roles
from authserver.models.revocation_news import RevocationNews
from authserver.models.server_secret import ServerSecret
from authserver.models.session import PasswordReset, UserSession
from authserver.models.signing_key import KeySchedule, KeyState, SigningKey
from authserver.models.usage import UsageCount
from authserver.models.user import User
from authserver.models.webhook import (
    DeliveryState,
    WebhookDelivery,
    WebhookSecret,
    WebhookSubscription,
)

__all__ = [
    "AuthorizationCode",
    "ConsentGrant",
    "DeviceAuthorization",
    "DpopProof",
    "GatewayRule",
    "GatewayUsage",
    "RefreshToken",
    "UserSession",
    "PasswordReset",
    "ApiKey",
    "AuditChain",
    "AuditEvent",
    "Client",
    "ClientSecret",
    "KeySchedule",
    "MfaChallenge",
    "RecoveryCode",
    "TotpCredential",
    "WebAuthnCredential",
    "KeyState",
    "PersonKey",
    "PushedRequest",
    "RevocationNews",
    "RevokedAccessToken",
    "Role",
    "RolePermission",
    "ServerSecret",
    "SigningKey",
    "UsageCount",
    "UsedAssertion",
    "User",
    "DeliveryState",
    "WebhookDelivery",
    "WebhookSecret",
    "WebhookSubscription",
    "client_roles",
    "user_roles",
]
