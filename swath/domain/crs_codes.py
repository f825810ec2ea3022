"""A CRS as a client may name one: an authority and a code (`EPSG:32618`, `OGC:CRS84`), nothing else.

GDAL reads any other CRS text it is given as a file name, through its own virtual file systems:
`/etc/…` is opened, and `/vsicurl/http://…` is fetched by GDAL's HTTP client, past Swath's URL
guard. So a client's CRS (an AOI's `crs`) is refused at submission unless it matches
`CRS_CODE_PATTERN`, and checked again where ingest hands it to GDAL.
"""

from __future__ import annotations

import re

#: `AUTHORITY:CODE`: letters, digits and `_` (a code may hold a `.`), no `/`, no spaces.
CRS_CODE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,15}:[A-Za-z0-9_.]{1,24}$"
_CRS_CODE = re.compile(CRS_CODE_PATTERN)


def is_crs_code(text: str) -> bool:
    """Whether `text` names a CRS by authority and code (and so can never be read as a path)."""
    return _CRS_CODE.fullmatch(text) is not None
