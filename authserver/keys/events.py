"""What the keys floor tells whoever listens, so that nothing on it imports its listeners."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent, with the Flask app as sender, after a key change made in this process has committed
#: (a rotation, a revocation): the app's scheduler (``ops.scheduler``) acts on it without
#: waiting out its interval.
keys_changed = _signals.signal("keys-changed")
