"""Mail the server sends (a password-reset link), to the one SMTP server the operator names in
``AUTHSERVER_SMTP_URL``; that configured relay is the only mail door, as ``client`` is for
HTTP.

``smtps://host:465`` speaks TLS from the start; ``smtp://host:587`` must upgrade with STARTTLS
(RFC 3207) unless the relay is on this machine's loopback, where plain SMTP is allowed. The
certificate is checked against the system's CAs and ``AUTHSERVER_OUTBOUND_CA_FILE``. A user and
password in the URL log in (RFC 4954). Each message has the outbound deadline."""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from authserver.platform.config import Settings


class MailError(Exception):
    """The message could not be handed to the relay."""


def _tls(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.outbound_ca_file:
        context.load_verify_locations(cafile=settings.outbound_ca_file)
    return context


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send_mail(settings: Settings, to: str, subject: str, text: str) -> None:
    if not settings.smtp_url:
        raise MailError("no AUTHSERVER_SMTP_URL")
    url = urlsplit(settings.smtp_url)
    host = url.hostname or ""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.mail_sender, to, subject
    message.set_content(text)
    timeout = settings.outbound_timeout_seconds
    try:
        if url.scheme == "smtps":
            relay = smtplib.SMTP_SSL(host, url.port or 465, timeout=timeout,
                                     context=_tls(settings))  # fmt: skip
        else:
            relay = smtplib.SMTP(host, url.port or 587, timeout=timeout)
        with relay:
            if url.scheme == "smtp":
                relay.ehlo()
                if relay.has_extn("starttls"):
                    relay.starttls(context=_tls(settings))
                    relay.ehlo()
                elif not _loopback(host):
                    raise MailError("the relay offers no STARTTLS")
            if url.username:
                relay.login(unquote(url.username), unquote(url.password or ""))
            relay.send_message(message)
    except (OSError, smtplib.SMTPException) as e:
        raise MailError(type(e).__name__) from None
