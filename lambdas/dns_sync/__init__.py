"""The DNS function: see handler.py. Lambda loads `handler.handler` from this folder."""
