"""The supervisor: detector → dedup → shards → fan-out → guardrails → queue → workers → store."""
