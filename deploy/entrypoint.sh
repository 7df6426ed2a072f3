#!/bin/sh
# The Procfile's `web` process and the container's default command: runs the
# service named by ROLE, `switchboard` (the default) or `agent-ui`. `exec`
# replaces this shell, so the platform's SIGTERM reaches the service itself.
set -eu
case "${ROLE:-switchboard}" in
    switchboard) exec switchboard serve ;;
    agent-ui) exec agent-ui serve ;;
    *)
        echo "ROLE must be switchboard or agent-ui, not '${ROLE}'" >&2
        exit 64
        ;;
esac
