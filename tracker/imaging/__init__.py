"""Pure image functions on numpy arrays.

Nothing in this package reads or writes files, touches a database or imports a
user interface: every function takes arrays and returns arrays or plain values.
"""
