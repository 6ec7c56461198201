"""The rollbackctl command line (Click).

main.py is the group and its error handling; each family of commands is a module that
registers itself on it; common.py holds what they share. Command modules import only
common.py and the library, never each other or main.py.
"""
