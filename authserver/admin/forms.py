"""Admin forms; each carries a CSRF token (Flask-WTF). Durations are typed as 30d, 12h, 90m, 45s."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from authserver.gateway.rules import CREDENTIAL_KINDS, METHODS
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
    owner = StringField(
        "Owner (user email or client id)", validators=[DataRequired(), Length(max=320)]
    )
    scopes = StringField("Scopes", validators=[DataRequired(), Length(max=1000)])
    name = StringField("Name", validators=[Optional(), Length(max=100)])
    expires_in = StringField("Expires in", validators=[Optional(), Length(max=20)])


class GraceForm(FlaskForm):
    grace = StringField("Grace period", default="1d", validators=[DataRequired(), Length(max=20)])


class ClientForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    grant_types = StringField("Grant types", default="client_credentials",
                              validators=[DataRequired(), Length(max=200)])  # fmt: skip
    redirect_uris = TextAreaField("Redirect URIs (one per line)", validators=[Length(max=4000)])
    scope = StringField("Scopes", validators=[Optional(), Length(max=1000)])
    auth_method = SelectField(
        "Authentication method",
        choices=choices(AUTH_METHODS),
        default="client_secret_basic",
    )


class ClientEditForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    redirect_uris = TextAreaField("Redirect URIs (one per line)", validators=[Length(max=4000)])
    scope = StringField("Scopes", validators=[Optional(), Length(max=1000)])
    grant_types = StringField("Grant types", validators=[DataRequired(), Length(max=200)])
    auth_method = SelectField("Authentication method", choices=choices(AUTH_METHODS))
    token_quota = StringField("Token request quota", validators=[Optional(), Length(max=100)])
    introspection_quota = StringField("Introspection quota",
                                      validators=[Optional(), Length(max=100)])  # fmt: skip


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
    methods = StringField("Methods", validators=[Optional(), Length(max=200)])
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
