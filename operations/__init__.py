"""What an operator runs against real accounts, and the builds of what gets deployed.

Never imports `sandbox/`: the local-only commands register themselves into the CLI
(operations.cli, the `mempool.commands` entry-point group).
"""
