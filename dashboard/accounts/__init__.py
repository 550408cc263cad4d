"""Accounts: users and passwords, the login session and CSRF, API tokens, login limits."""
