"""The CNI front end: the ``hawser-cni`` plugin (spec 1.0.0) and its contract with the daemon.

Modules: ``spec`` (environment, configuration, result and error JSON; pure), ``client`` (one
request on the daemon's API socket; its docstring is the contract), ``main`` (the executable),
``launcher`` (the file runtimes exec, written by ``make install``) — and, for the daemon only,
``service`` (``POST /cni/v1/{add,del,check}`` over controller/ops). This ``__init__`` imports
nothing: every import is paid on each ADD.

State lives in Hawser's store, keyed by ``containerId``/``ifName`` (owner ``cni``), so ``hawser
ps``, ``hawser port`` and ``/metrics`` see CNI containers like any other.
"""
