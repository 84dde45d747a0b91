"""Operations: transactions over the store, the kernel and the datapath (containers, networks,
endpoints, attachments, published ports, link policy). ``node.Node`` is the state every
operation takes; plugins subscribe to its events. Nothing here imports a plugin."""
