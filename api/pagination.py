"""Page cursors as the API documents them: opaque to clients, base64url on the wire."""

#: What a `next_cursor` looks like (padded base64url); a value of another shape is refused by the
#: schema itself. Which such strings the server issued cannot be told by a pattern: another one is
#: a `validation-error` too.
CURSOR_PATTERN = r"^(?:[A-Za-z0-9_-]{4})+(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$"
