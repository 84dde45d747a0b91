"""The kernel layer: pyroute2, netns, files and processes; kernel errors become HawserErrors
here (see the target layout, issue 13)."""
