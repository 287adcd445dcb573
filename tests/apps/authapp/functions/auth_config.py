"""Providers for tests/test_auth.py; the test JWKS server's URLs arrive in
environment variables because its port is only known at test time."""

import os

env = os.environ.get

providers = []
if env("AUTHAPP_OIDC_ISSUER"):
    providers += [
        {"domain": env("AUTHAPP_OIDC_ISSUER"), "application_id": "livebase-tests"},
        # Same issuer, another audience: tokens for either app are accepted.
        {"domain": env("AUTHAPP_OIDC_ISSUER"), "applicationID": "second-app"},
    ]
if env("AUTHAPP_CUSTOM_ISSUER"):
    providers.append(
        {
            "type": "custom_jwt",
            # A trailing slash here must still match tokens whose iss has none.
            "issuer": env("AUTHAPP_CUSTOM_ISSUER") + "/",
            "jwks": env("AUTHAPP_CUSTOM_JWKS"),
            "algorithm": "ES256",
            "application_id": "custom-app",
        }
    )
if env("AUTHAPP_INLINE_ISSUER"):
    providers.append(
        {
            "type": "customJwt",
            "issuer": env("AUTHAPP_INLINE_ISSUER"),
            "jwks": env("AUTHAPP_INLINE_JWKS"),
            "algorithm": "RS256",
        }
    )
if env("AUTHAPP_DOWN_ISSUER"):
    providers.append({"domain": env("AUTHAPP_DOWN_ISSUER"), "application_id": "livebase-tests"})
