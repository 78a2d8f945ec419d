"""Browser forms (sign-in, consent, sign-out, the second-factor pages); every one carries a
Flask-WTF CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()
    submit = SubmitField("Sign in")


class ConsentForm(FlaskForm):
    allow = SubmitField("Allow")
    deny = SubmitField("Deny")


class SignOutForm(FlaskForm):
    submit = SubmitField("Sign out")


class SignOutEverywhereForm(FlaskForm):
    submit = SubmitField("Sign out everywhere")


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password",
                                     validators=[DataRequired(), Length(max=1024)])  # fmt: skip
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("New password again", validators=[
        DataRequired(), EqualTo("new_password", message="The two new passwords differ."),
    ])  # fmt: skip
    submit = SubmitField("Change password")


class ResetRequestForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    submit = SubmitField("Send me a link")


class ResetForm(FlaskForm):
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("New password again", validators=[
        DataRequired(), EqualTo("new_password", message="The two new passwords differ."),
    ])  # fmt: skip
    submit = SubmitField("Set password")


class ExportForm(FlaskForm):
    submit = SubmitField("Download my data")


class ActionForm(FlaskForm):
    """A button that changes something (set up, remove, regenerate): CSRF and nothing else."""

    submit = SubmitField()


class CodeForm(FlaskForm):
    code = StringField("Authentication code", validators=[DataRequired(), Length(max=16)])
    submit = SubmitField("Verify")


class RecoveryCodeForm(FlaskForm):
    recovery_code = StringField("Recovery code", validators=[DataRequired(), Length(max=64)])
    submit = SubmitField("Use recovery code")


class PasskeyForm(FlaskForm):
    """Filled in by passkeys.js with the authenticator's answer, then submitted."""

    credential = HiddenField(validators=[DataRequired(), Length(max=16384)])
    name = StringField("Passkey name", validators=[Length(max=100)])
    next = HiddenField()
