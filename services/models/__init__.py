"""Model files: the catalog, the embedded model, local variants, downloads and the manager."""
