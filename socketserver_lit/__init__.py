"""socketserver_lit: placeholder while the core is written."""
