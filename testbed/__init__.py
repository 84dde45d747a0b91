"""The testbed: one fixture library for the tests and the benchmark.

Modules, one concern each (lower ones know nothing of higher ones):

| module | concern |
| --- | --- |
| ``shell`` | run a command; ``StepFailed``, the error every step raises |
| ``wait`` | poll a condition with a deadline (the only synchronisation: no sleeps) |
| ``scope`` | ``t-<hex>`` names and guaranteed clean-up, last made first |
| ``netns`` | netns, veths, bridges, addresses, sysctls; code and sockets inside a netns |
| ``topology`` | the standard topologies: ``ExtNode`` (ext <-> node), ``Underlay``, containers |
| ``procs`` | processes in a netns, line readers, readiness (a line, a port, an HTTP answer) |
| ``servers`` | the standard echo / close-first / UDP servers and the client of datapath tests |
| ``unixhttp`` | HTTP+JSON over a unix socket (the daemon's API) |
| ``hawser`` | a Hawser daemon node: start/stop/kill -9/restart, CLI and API, clean-up |
| ``census`` | what a node holds or leaves: netns, links, pins, cgroup programs, processes |
| ``under_test`` | the one module importing controller/ (for the bare datapath) |
| ``datapath`` | a bare Datapath on a node, and the topology its tests share |
| ``etcd`` | a real etcd (loopback or an underlay netns), TLS files, a cuttable relay |
| ``cluster`` | a Hawser cluster: node netns on an underlay, etcd, a daemon per node |
| ``capture`` | frames seen on an interface (AF_PACKET), VXLAN decoding |
| ``engines`` | dockerd and podman inside a node netns, in a private mount namespace |

Tests import it as ``testbed.…`` (pytest puts the repository root on sys.path); the benchmark
runs with the repository root on sys.path too. It is not part of the installed package.
"""
