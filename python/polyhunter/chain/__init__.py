"""The local chain: anvil from the npm package, and minimal JSON-RPC over loopback."""
