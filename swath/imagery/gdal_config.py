"""GDAL's configuration for every process that touches rasters, set once at import.

Scenes are untrusted files. GDAL can be made to open other files than the one it is given: sidecars
found by listing the directory (`.aux.xml`, `.ovr`, `.msk`), external overviews an in-file
`OVERVIEW_FILE` names, and URLs through its own network stack (`/vsicurl/` and friends), which would
bypass Swath's pinned, SSRF-guarded HTTP client. This module turns each of those off, both in the
process environment (for every GDAL call, including libraries that open rasters on their own) and
as the options `swath.imagery.raster` opens each scene under.
"""

from __future__ import annotations

import os

#: The options, by GDAL configuration key.
GDAL_CONFIG: dict[str, str] = {
    # Never list a scene's directory on open (it may hold thousands of scenes) and so never find sidecars.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # No `.aux.xml` is read (it could name an OVERVIEW_FILE or other metadata) nor written.
    "GDAL_PAM_ENABLED": "NO",
    # GDAL's network file systems refuse every file: no extension matches this one.
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".swath-gdal-network-disabled",
    "GDAL_HTTP_MAX_RETRY": "0",
}


def apply() -> None:
    """Put `GDAL_CONFIG` into this process's environment (idempotent; GDAL reads it on first use)."""
    os.environ.update(GDAL_CONFIG)


apply()
