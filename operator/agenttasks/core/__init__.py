"""Pure decisions over plain data and an explicit `now`. Never imports kopf or kubernetes,
never does I/O, never reads a clock. Two are state machines (the slot ledger, the rate
limiter's buckets): every input, the time included, is passed in, so they replay exactly in
tests. Shared in-memory state that the shell fills (progress reports, delivery counts) lives
in ``agenttasks.inbox``, not here."""
