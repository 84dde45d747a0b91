"""Front ends and extensions that sit on top of the operations layer.

Each subpackage attaches through node events or calls ops functions (layout.md); nothing below
this layer imports a plugin. ``docker/`` serves Docker's remote network and IPAM driver
protocol, ``cni/`` is the ``hawser-cni`` executable and its contract with the daemon.
"""
