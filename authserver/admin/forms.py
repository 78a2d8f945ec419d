"""Admin forms; each carries a CSRF token (Flask-WTF). Durations are typed as 30d, 12h, 90m, 45s."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from authserver.gateway.rules import CREDENTIAL_KINDS, METHODS
from authserver.platform.config import SIGNING_ALGORITHMS
from authserver.platform.vocabulary import AUTH_METHODS, GRANT_TYPES


def choices(values) -> list[SelectChoice]:  # noqa: ANN001
    return [SelectChoice(value, value) for value in values]


class ConfirmForm(FlaskForm):
    submit = SubmitField()


class RotateForm(FlaskForm):
    immediately = BooleanField("Sign within seconds (skip publishing ahead)")


class RevokeKeyForm(FlaskForm):
    confirm_kid = StringField(
        "Type the kid to confirm", validators=[DataRequired(), Length(max=200)]
    )
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class EraseForm(FlaskForm):
    confirm_email = StringField(
        "Type the email to confirm", validators=[DataRequired(), Length(max=320)]
    )


class ScheduleForm(FlaskForm):
    rotate_every = StringField("Rotate every", validators=[DataRequired(), Length(max=20)])
    publish_ahead = StringField("Publish ahead", validators=[DataRequired(), Length(max=20)])
    retire_after = StringField("Retire after", validators=[DataRequired(), Length(max=20)])


class ApiKeyForm(FlaskForm):
    """A new API key for an owner picked on the page before (``user:<subject>`` or
    ``client:<client_id>``); its scopes ticked from those it may carry (the service decides)."""

    owner = StringField("Owner", validators=[DataRequired(), Length(max=320)])
    scopes = SelectMultipleField("Scopes", choices=[], validate_choice=False)
    name = StringField("Name", validators=[Optional(), Length(max=100)])
    expires_in = StringField("Expires in", validators=[Optional(), Length(max=20)])


class GraceForm(FlaskForm):
    grace = StringField("Grace period", default="1d", validators=[DataRequired(), Length(max=20)])


class ClientEditForm(FlaskForm):
    """A client's settings that may change after registration. Grant types, scopes and roles
    are ticked; what they may hold is the service's rule (``clients.service``), not the form's."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    redirect_uris = TextAreaField("Redirect URIs (one per line)", validators=[Length(max=40_000)])
    scope = SelectMultipleField("Scopes", choices=[], validate_choice=False)
    other_scopes = StringField("Other scopes", validators=[Optional(), Length(max=4000)])
    grant_types = SelectMultipleField("Grant types", choices=choices(GRANT_TYPES),
                                      validate_choice=False)  # fmt: skip
    auth_method = SelectField("Authentication method", choices=choices(AUTH_METHODS),
                              validate_choice=False)  # fmt: skip
    jwks_uri = StringField("JWKS URI", validators=[Optional(), Length(max=2000)])
    jwks = TextAreaField("JWK Set (JSON)", validators=[Optional(), Length(max=64_000)])
    post_logout_redirect_uris = TextAreaField("Post-logout redirect URIs (one per line)",
                                              validators=[Length(max=40_000)])  # fmt: skip
    id_token_alg = SelectField("ID token signing algorithm", choices=choices(SIGNING_ALGORITHMS),
                               default="RS256", validate_choice=False)  # fmt: skip
    skip_consent = BooleanField("Skip the consent page (a first-party client)")
    require_par = BooleanField("Require pushed authorization requests (PAR, RFC 9126)")
    require_dpop = BooleanField("Require DPoP-bound access tokens (RFC 9449)")
    backchannel_logout_uri = StringField("Back-channel logout URI",
                                         validators=[Optional(), Length(max=2000)])  # fmt: skip
    resources = TextAreaField("Resources (RFC 8707, one per line)",
                              validators=[Length(max=40_000)])  # fmt: skip
    token_quota = StringField("Token request quota", validators=[Optional(), Length(max=100)])
    introspection_quota = StringField("Introspection quota",
                                      validators=[Optional(), Length(max=100)])  # fmt: skip


class ClientForm(ClientEditForm):
    """Registration: every setting of ``authserver clients create``."""

    grant_types = SelectMultipleField("Grant types", choices=choices(GRANT_TYPES),
                                      default=["client_credentials"],
                                      validate_choice=False)  # fmt: skip
    auth_method = SelectField("Authentication method", choices=choices(AUTH_METHODS),
                              default="client_secret_basic", validate_choice=False)  # fmt: skip
    public = BooleanField("Public client (no secret: a browser or native app)")
    roles = SelectMultipleField("Roles", choices=[], validate_choice=False)
    force_mfa_roles = BooleanField("Give roles that require a second factor anyway")


class ClientRoleForm(FlaskForm):
    """A role given to a client (``rbac.service.grant_role``)."""

    role = SelectField("Role", choices=[], validate_choice=False)
    force = BooleanField("Even if the role requires a second factor")


class GrantRoleForm(FlaskForm):
    role = SelectField("Role", choices=[])


GRANT_TYPES_HELP = ", ".join(GRANT_TYPES)


class WebhookForm(FlaskForm):
    url = StringField("Endpoint URL (https)", validators=[DataRequired(), Length(max=2000)])
    events = StringField("Event types", validators=[DataRequired(), Length(max=2000)])
    description = StringField("Description", validators=[Optional(), Length(max=200)])


class RuleForm(FlaskForm):
    """A gateway route rule; ``gateway.rules.RuleSpec.checked`` says what each field may hold."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    host = StringField("Host", validators=[Optional(), Length(max=255)])
    path = StringField("Path", default="/", validators=[DataRequired(), Length(max=1000)])
    # Checkboxes; the rule book refuses a method that is not one (the service decides).
    methods = SelectMultipleField("Methods", choices=[], validate_choice=False)
    scopes = StringField("Required scopes", validators=[Optional(), Length(max=2000)])
    scope_match = SelectField(
        "Scopes needed",
        choices=[SelectChoice("all", "all of them"), SelectChoice("any", "any one")],
    )
    credentials = SelectMultipleField("Credentials accepted", choices=choices(CREDENTIAL_KINDS))
    audience = StringField("Audience a JWT must carry", validators=[Optional(), Length(max=2000)])
    forward_token = BooleanField("Hand the upstream a signed identity token (X-Auth-Token)")
    enabled = BooleanField("Enabled")
    description = StringField("Description", validators=[Optional(), Length(max=1000)])
    position = IntegerField("Position", validators=[Optional(), NumberRange(min=1, max=10_000)])


class DryRunForm(FlaskForm):
    """The dry run changes nothing: a GET form, without a CSRF token."""

    class Meta:
        csrf = False

    method = SelectField("Method", default="GET", choices=choices(sorted(METHODS)))
    url = StringField("URL", validators=[DataRequired(), Length(max=2000)])


class LimitsForm(FlaskForm):
    """An API key's or a client's gateway limits (``gateway.limits.Limits``)."""

    rate_limit = StringField("Rate limit", validators=[Optional(), Length(max=200)])
    quota = IntegerField("Quota (requests)", validators=[Optional(), NumberRange(min=0)])
    quota_period = SelectField("Refilled", default="none", choices=[
        SelectChoice("none", "never"), SelectChoice("day", "each day (00:00 UTC)"),
        SelectChoice("month", "each month (the 1st, 00:00 UTC)")])  # fmt: skip


class RoleForm(FlaskForm):
    """A role: its permissions are ticked from the known scopes (``rbac.known_scopes``)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    description = StringField("Description", validators=[Optional(), Length(max=500)])
    permissions = SelectMultipleField("Permissions", choices=[], validate_choice=False)
    requires_mfa = BooleanField("Members must sign in with a second factor")


class UserCreateForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    display_name = StringField("Name", validators=[Optional(), Length(max=200)])
    roles = SelectMultipleField("Roles", choices=[], validate_choice=False)
    password_choice = SelectField("First password", default="link", choices=[
        SelectChoice("link", "a one-time link to set it (shown once)"),
        SelectChoice("password", "one I type now")])  # fmt: skip
    password = PasswordField("Initial password", validators=[Optional(), Length(max=1024)])


class UserEditForm(FlaskForm):
    display_name = StringField("Name", validators=[DataRequired(), Length(max=200)])


class SetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
