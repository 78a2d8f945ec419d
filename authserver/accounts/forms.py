"""Browser forms; every one carries a Flask-WTF CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length


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
