"""The printer's G-code files: safe names, checked uploads, atomic storage, analyses."""
