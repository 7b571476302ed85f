"""pyftpdlib as the conformance harness runs it: one user with every
permission, explicit FTPS offered (not required), no failed-login delay.
Arguments: PORT ROOT USER PASSWORD CERTFILE KEYFILE."""

import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer

port, root, user, password, cert, key = sys.argv[1:7]
authorizer = DummyAuthorizer()
authorizer.add_user(user, password, root, perm="elradfmwMT")


class Handler(TLS_FTPHandler):
    pass


Handler.authorizer = authorizer
Handler.certfile = cert
Handler.keyfile = key
Handler.auth_failed_timeout = 0
Handler.max_login_attempts = 3
server = FTPServer(("127.0.0.1", int(port)), Handler)
server.serve_forever()
