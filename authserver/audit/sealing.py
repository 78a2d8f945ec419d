"""The personal fields of audit records, sealed under the person's own key (crypto-shredding).

A record whose actor is a person (``user:<subject>``) keeps that person's personal fields (the
address and user agent of their request, and any field the caller names as personal) not in
the clear but in one AES-256-GCM box, ``data["sealed"] = {"person": subject, "box": …}``, under
a key of that person's own (``person_keys``, itself sealed under the KEK). The chain hashes the
record as stored, box included, so erasing the person (deleting their key) leaves every record
and the chain verifiable while no one can open the box again. The idea is the one of
crypto-shredding as the EDPB and NIST SP 800-88 describe erasure by key destruction.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from authserver.models import PersonKey, User
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime

#: The data member that holds the box.
SEALED = "sealed"
#: What a reader sees in place of a field whose person was erased.
ERASED = "[erased]"
#: The request's own fields that belong to the person acting (audit/service.py adds them).
REQUEST_FIELDS = ("ip", "user_agent")
_NONCE_BYTES = 12
_PERSON = "user:"


def person_of(actor: str) -> str | None:
    """The subject of a person acting, or None for a client, the CLI or the system."""
    return actor[len(_PERSON) :] if actor.startswith(_PERSON) else None


def address_actor(email: str) -> str:
    """How records name an email address that is no one's account (a probe, a typo, an erased
    person's old address): a keyed hash (HMAC-SHA256 under the pepper), never the address, so
    repeated probes of one address still stand out and an administrator can look one up."""
    normalized = email.strip().lower()[:320].encode()
    digest = hmac.new(current_runtime().pepper(), b"audit-address:" + normalized, "sha256")
    return f"address:{digest.hexdigest()[:32]}"


def as_recorded_actor(actor: str) -> str:
    """An email as actor (a sign-in rule names the account typed) as records hold it: the
    person's ``user:<subject>``, or the keyed hash of an address of no account."""
    if "@" not in actor or actor.startswith((_PERSON, "address:")):
        return actor
    user = db.session.scalar(
        select(User).where(User.email == actor.strip().lower(), User.erased_at.is_(None))
    )  # fmt: skip
    return user.actor if user is not None else address_actor(actor)


def seal(subject: str, fields: dict) -> dict | None:
    """The box for ``fields`` under the person's key (made on their first record); None for a
    person erased (a request of theirs still in flight: nothing of it is kept)."""
    key = _key(subject)
    if key is None:
        return None
    plain = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    box = nonce + AESGCM(key).encrypt(nonce, plain.encode(), _aad(subject))
    return {"person": subject, "box": base64.urlsafe_b64encode(box).decode().rstrip("=")}


def opened(data: dict, keys: dict[str, bytes]) -> dict:
    """``data`` with its box opened into it, or its sealed fields shown as erased."""
    sealed = data.get(SEALED)
    if not isinstance(sealed, dict):
        return dict(data)
    rest = {k: v for k, v in data.items() if k != SEALED}
    subject = str(sealed.get("person", ""))
    key = keys.get(subject)
    fields = _open(subject, str(sealed.get("box", "")), key) if key else None
    if fields is None:
        return rest | {"personal_data": ERASED}
    return rest | fields


def keys_for(subjects: Iterable[str]) -> dict[str, bytes]:
    """The keys of these people that still exist (an erased person has none)."""
    wanted = sorted(set(subjects))
    if not wanted:
        return {}
    envelope = current_runtime().envelope()
    rows = db.session.scalars(select(PersonKey).where(PersonKey.subject.in_(wanted)))
    return {row.subject: envelope.decrypt(row.kek_id, row.ciphertext, row.associated_data)
            for row in rows}  # fmt: skip


def subjects_in(rows: Iterable[object]) -> set[str]:
    """The people whose boxes ``rows`` (audit events) hold."""
    found = set()
    for row in rows:
        sealed = (getattr(row, "data", None) or {}).get(SEALED)
        if isinstance(sealed, dict) and sealed.get("person"):
            found.add(str(sealed["person"]))
    return found


def shred(subject: str) -> bool:
    """Destroy the person's key, in the caller's transaction; True if there was one."""
    result = db.session.execute(delete(PersonKey).where(PersonKey.subject == subject))
    return result.rowcount > 0


def _key(subject: str) -> bytes | None:
    """The person's key, made the first time (two first records at once: one key wins); None
    once the person is erased (never a new key for them)."""
    envelope = current_runtime().envelope()
    row = db.session.get(PersonKey, subject)
    if row is None:
        erased = db.session.scalar(select(User.erased_at).where(User.subject == subject))
        if erased is not None:
            return None
        candidate = PersonKey(subject=subject, created_at=clock.now())
        kek_id, ciphertext = envelope.encrypt(secrets.token_bytes(32), candidate.associated_data)
        dialect = db.session.get_bind().dialect.name
        insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
        db.session.execute(
            insert(PersonKey.__table__)
            .values(subject=subject, kek_id=kek_id, ciphertext=ciphertext,
                    created_at=candidate.created_at)
            .on_conflict_do_nothing()
        )  # fmt: skip
        row = db.session.get(PersonKey, subject, populate_existing=True)
    return envelope.decrypt(row.kek_id, row.ciphertext, row.associated_data)


def _open(subject: str, box: str, key: bytes) -> dict | None:
    try:
        raw = base64.urlsafe_b64decode(box + "=" * (-len(box) % 4))
        plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(subject))
        fields = json.loads(plain)
    except (ValueError, InvalidTag):
        return None
    return fields if isinstance(fields, dict) else None


def _aad(subject: str) -> bytes:
    return f"audit:{subject}".encode()
