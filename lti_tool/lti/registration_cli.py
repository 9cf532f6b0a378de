"""`flask --app wsgi platforms add|list|remove|invite`: manual registration and registration invites."""
