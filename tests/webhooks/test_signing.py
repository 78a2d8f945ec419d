"""Standard Webhooks signatures: the specification's published vector, agreement with the
reference ``standardwebhooks`` package in both directions, and what must not verify."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from authserver.webhooks import signing

# The vector of the Standard Webhooks reference libraries' tests.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_vector():
    key = signing.secret_bytes(VECTOR_SECRET)
    assert signing.sign(key, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_the_vector_by_the_definition_and_by_the_reference_package():
    # HMAC-SHA256 over "{id}.{timestamp}.{body}", computed here from the spec's words ...
    key = base64.b64decode(VECTOR_SECRET.removeprefix("whsec_"))
    content = f"{VECTOR_ID}.{VECTOR_TIMESTAMP}.".encode() + VECTOR_BODY
    by_hand = "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    # ... and by the reference implementation.
    reference = Webhook(VECTOR_SECRET).sign(
        VECTOR_ID, dt.datetime.fromtimestamp(VECTOR_TIMESTAMP, dt.UTC), VECTOR_BODY.decode()
    )
    assert by_hand == reference == VECTOR_SIGNATURE


def test_new_secrets_are_whsec_base64_of_32_random_bytes():
    first, second = signing.new_secret(), signing.new_secret()
    assert len(first) == 32 and first != second
    text = signing.secret_text(first)
    assert text.startswith("whsec_") and signing.secret_bytes(text) == first
    with pytest.raises(ValueError):
        signing.secret_bytes("sk_" + text)


def test_our_headers_verify_with_the_reference_package_and_a_changed_byte_does_not():
    secret = signing.new_secret()
    body = b'{"type":"account:sign-in:failed","data":{}}'
    headers = signing.headers([secret], "msg_abc", int(time.time()), body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    receiver = Webhook(signing.secret_text(secret))
    receiver.verify(body.decode(), headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        receiver.verify(body.decode().replace("failed", "faileD"), headers)
    with pytest.raises(WebhookVerificationError):
        receiver.verify(body.decode(), {**headers, "webhook-id": "msg_abd"})
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.secret_text(signing.new_secret())).verify(body.decode(), headers)


def test_several_secrets_sign_side_by_side_newest_first():
    new, old = signing.new_secret(), signing.new_secret()
    body = b"{}"
    header = signing.signature_header([new, old], "msg_x", 1700000000, body)
    signatures = header.split(" ")
    assert signatures == [signing.sign(new, "msg_x", 1700000000, body),
                          signing.sign(old, "msg_x", 1700000000, body)]  # fmt: skip
    stamp = int(time.time())
    headers = signing.headers([new, old], "msg_x", stamp, body)
    for key in (new, old):  # a receiver holding either secret accepts the delivery
        Webhook(signing.secret_text(key)).verify("{}", headers, json_parse=False)


def test_a_message_id_with_a_dot_is_refused():
    # The spec: the id and timestamp must not contain '.', which separates the signed parts.
    with pytest.raises(ValueError):
        signing.sign(signing.new_secret(), "msg_a.b", 1, b"{}")
