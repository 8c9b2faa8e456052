"""Detection of leader fills: chain logs over a websocket, with backfill, reconnects and checkpoints."""
