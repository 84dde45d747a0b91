"""Process wiring: the ``hawserd`` entry point, configuration, plugin installation and the
reconcile loop that makes the kernel and the maps match the store."""
