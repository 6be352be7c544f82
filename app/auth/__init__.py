"""Authentication (JWT, API keys), the principal, and the permission guards."""
