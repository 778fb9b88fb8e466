"""Built-in ntm backends; each registers itself through the same hook a third-party plugin uses."""
