"""`flask --app wsgi catalog load|list|export`."""
