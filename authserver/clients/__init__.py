"""OAuth clients."""
