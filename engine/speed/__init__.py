"""Speed switches: how a take runs faster or in less memory without changing what it shows beyond
a stated tolerance (docs/speed.md)."""
