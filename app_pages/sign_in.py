"""Sign in with a username and password (argon2-hashed in the store)."""

from app_pages.common import sign_in_form

sign_in_form()
