"""Whether this run is against the local Citus cluster (``TEST_CITUS=1``, ``make test-citus``): import it as
``from citus_mode import CITUS``. A test known to fail on Citus is marked
``@pytest.mark.citus_incompatible("why")``: under TEST_CITUS=1 it is a strict xfail, on plain PostgreSQL
the marker does nothing."""

from __future__ import annotations

import os

__all__ = ("CITUS",)

CITUS: bool = os.environ.get("TEST_CITUS") == "1"
