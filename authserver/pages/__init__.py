"""The browser pages: the landing page, sign-in and sign-out (``account``), and how a person
signs in (``security``: factors, the second-factor step, passwordless passkeys). The sign-in
flow the protocol's pages share lives in ``authserver.web.signin``."""
