"""Copy quality, holdings and profit of followers and leaders: what `polyhunter report` computes.

`quality` makes the stored `CopyQuality` of an executed copy (slippage, delay, gas share); `pnl` keeps
average-cost books and reconciles them with the chain; `summary` aggregates a period per follower and per
leader and renders it; `plot` draws it (matplotlib, the `plot` extra, imported only there).
"""
