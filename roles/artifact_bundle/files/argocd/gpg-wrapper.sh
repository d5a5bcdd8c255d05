#!/bin/sh
# Argo CD's repo-server runs gpg under this name for its keyring checks and
# reads gpg's messages, so they must be in the C locale.
LC_ALL=C
export LC_ALL
exec gpg "$@"
