"""Teaching helpers: the chip database and how to read its figures.
Imports the api and measuring layers."""
