"""What every face (and the protocol's browser steps) shares: error formats (RFC 6749 JSON,
RFC 9457 problems, HTML pages), request budgets, keyset paging, the browser session and the
sign-in flow. Below ``oauth``; above the services it calls."""
