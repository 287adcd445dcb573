"""A test issuer whose keys tests/test_client.py makes at run time: the
issuer URL and its JWKS (a data: URI) arrive in environment variables."""

import os

providers = []
if os.environ.get("CLIENTAPP_ISSUER"):
    providers.append(
        {
            "type": "custom_jwt",
            "issuer": os.environ["CLIENTAPP_ISSUER"],
            "jwks": os.environ["CLIENTAPP_JWKS"],
            "algorithm": "RS256",
        }
    )
