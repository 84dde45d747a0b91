"""Docker's rules and syntaxes as pure functions, no I/O: the stored objects (``model``),
names, published-port specs, network options, IPAM, /etc file rendering, legacy links."""
