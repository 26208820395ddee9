"""Partner single sign-on: SAML IdPs and OpenID Connect providers registered by each partner."""
