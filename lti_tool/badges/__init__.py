"""Open Badges: issuing, baking, verifying and sharing the badges of earned micro-credentials."""
