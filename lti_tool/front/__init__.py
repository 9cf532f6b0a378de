"""The tool's front door (`/`): what it is, and where a newcomer or an LMS admin goes from here."""
