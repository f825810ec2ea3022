"""What routes do, without HTTP: creating, reading and cancelling runs."""
