"""Printable and downloadable output: Excel ledgers (台账) and visit worksheets."""
