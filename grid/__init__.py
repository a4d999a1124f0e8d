"""gridgov domain: units, validation, datums, partition, ownership, routing.

Pure modules (``datum``, ``codes``, ``validate``, ``levels``, ...) work on shapely /
geopandas objects and never touch the database; ``grid.db`` is the one storage layer.
"""

__version__ = "0.1.0"
