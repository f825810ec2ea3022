"""Authentication: JWT verification for the API, and the start-up checks on secrets every process runs."""
