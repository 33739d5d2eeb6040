"""Bring a clinic's existing content in as a draft knowledge file: a web page, a Word file, a PDF,
plain text or an FAQ sheet, word for word, for an editor to review before anything is served.

``importer.import_file`` does it; ``review`` lists the drafts waiting for an editor. The readers pull
in trafilatura, pdfminer and python-docx, so this package's root imports none of them: a server that
only lists drafts never loads them.
"""
