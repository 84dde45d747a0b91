"""The CNI front end: the ``hawser-cni`` plugin (spec 1.0.0) and its contract with the daemon.

Modules: ``spec`` (environment, configuration, result and error JSON; pure), ``client`` (one
request on the daemon's API socket; its docstring is the contract phase B serves), ``main``
(the executable). This ``__init__`` imports nothing: every import is paid on each ADD.

What phase B wires: ``POST /cni/v1/add`` → ops container (sandbox) adopt for the runtime's
netns, keyed by ``containerId`` + ``ifName`` (owner ``cni``) → ops endpoint create on
``network`` with the veth's container side moved into that netns and named ``ifName`` → ops
ports publish for ``portMappings`` (hostPort 0: Hawser picks); the reply is the endpoint as a
CNI result. ``/cni/v1/del`` → unpublish, endpoint remove, forget the sandbox (never delete a
netns Hawser did not create); a repeated DEL or one without netns succeeds. ``/cni/v1/check``
compares the store with ``prevResult`` and the kernel. State lives in Hawser's store, keyed by
``containerId``/``ifName``, so ``hawser ps``, ``hawser port`` and ``/metrics`` see CNI
containers like any other.
"""
