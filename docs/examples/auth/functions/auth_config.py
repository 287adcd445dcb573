import os

providers = [
    # An OpenID Connect provider (Auth0, Clerk, Google, Keycloak, WorkOS...):
    # tokens must have iss == domain and aud == application_id; the keys are
    # found through {domain}/.well-known/openid-configuration.
    {
        "domain": os.environ.get("AUTH_ISSUER", "https://my-tenant.us.auth0.com/"),
        "application_id": os.environ.get("AUTH_APPLICATION_ID", "my-app"),
    },
    # Any other JWT issuer: name its JWKS and its signing algorithm.
    {
        "type": "custom_jwt",
        "issuer": os.environ.get("CUSTOM_JWT_ISSUER", "https://auth.example.com"),
        "jwks": os.environ.get("CUSTOM_JWT_JWKS", "https://auth.example.com/.well-known/jwks.json"),
        "algorithm": "ES256",
        "application_id": "my-app",
    },
]
