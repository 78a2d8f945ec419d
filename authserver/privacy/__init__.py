"""What the server holds about a person, handed to that person (GDPR Art. 15 and 20)."""
