"""Uploaded files (the legacy `/user` picture, served by `/file`): what their bytes are
(`sniff`) and where they are kept on disk (`store`)."""
