"""Authentication shared by API processes: JWT verification and the start-up checks on secrets."""
