"""Hardware layer: one interface, devices built on it, lazily imported backends."""
