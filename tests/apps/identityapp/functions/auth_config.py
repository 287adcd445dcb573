"""One OIDC provider; the test JWKS server's URL arrives in an environment variable."""

import os

providers = [{"domain": os.environ["IDENTITYAPP_ISSUER"], "application_id": "livebase-tests"}]
