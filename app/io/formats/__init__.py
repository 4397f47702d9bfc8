"""Built-in formats: one module, one DataFile subclass each."""
