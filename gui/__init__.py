"""Chip Audit's Qt interface: windows, item models, delegates and workers. Domain logic lives in
`model/`; everything here only shows it and forwards the user's intent."""
