"""Parsing model output with tree-sitter: code blocks, entry points, syntax errors, asserts."""
