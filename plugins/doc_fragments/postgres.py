# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Connection options shared by the database modules (their argument spec is pgtools')."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description: Database server address.
    type: str
    default: 127.0.0.1
  login_port:
    description: Database server port.
    type: int
    default: 5432
  login_user:
    description:
      - Role to connect as. It needs what the module does - reading every table for backups
        and checks, creating and renaming databases and ending sessions for restores and
        read-only mode (normally a superuser).
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user); passed to the client binaries in PGPASSWORD, never on a
        command line.
    type: str
    default: ''
  bin_dir:
    description: Folder of the PostgreSQL client binaries (pg_dump, pg_restore).
    type: path
    default: /usr/lib/postgresql/15/bin
requirements: [psycopg >= 3]
"""
