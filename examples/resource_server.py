"""A downstream API that verifies authserver access tokens locally.

    AUTHSERVER_ISSUER=http://localhost:5000 API_AUDIENCE=http://localhost:5000 \
        .venv/bin/python examples/resource_server.py

    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:5001/orders
"""

from __future__ import annotations

import os

from authserver_verify import ResourceServer
from authserver_verify.integrations.flask import require_token
from flask import Flask, g, jsonify

ISSUER = os.environ.get("AUTHSERVER_ISSUER", "http://localhost:5000")
AUDIENCE = os.environ.get("API_AUDIENCE", ISSUER)
api = ResourceServer(ISSUER, audience=AUDIENCE)
app = Flask(__name__)


@app.get("/orders")
@require_token(api, ["demo:read"])
def orders():
    return jsonify(caller=g.token_claims["client_id"], orders=[{"id": 1, "total": "9.99"}])


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5001")))
