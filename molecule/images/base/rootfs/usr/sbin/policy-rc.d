#!/bin/sh
# Package scripts must not start services while an image is built: the drills start
# PostgreSQL and nginx themselves, through Ansible.
exit 101
