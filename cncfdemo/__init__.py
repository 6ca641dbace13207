"""cncfdemo's companion command: render, cost, benchmark and compare stacks."""
