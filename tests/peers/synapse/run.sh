#!/usr/bin/env bash
# Starts a throwaway Synapse on 127.0.0.1:PORT with its data in DIR; stops it when this script's parent exits
# or on SIGTERM. Usage: run.sh DIR PORT [strict]  ("strict" keeps Synapse's message rate limit low, for 429 tests).
set -euo pipefail
dir=$1 port=$2 mode=${3:-relaxed}
venv=$("$(dirname "$0")/install.sh")
parent=$PPID
if [ "$mode" = strict ]; then msg_rate="{per_second: 0.5, burst_count: 2}"; else msg_rate="{per_second: 1000, burst_count: 1000}"; fi
relaxed="{per_second: 1000, burst_count: 1000}"
mkdir -p "$dir/media"
cat > "$dir/homeserver.yaml" <<YAML
server_name: localhost
pid_file: $dir/homeserver.pid
listeners:
  - port: $port
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: $dir/homeserver.db
media_store_path: $dir/media
signing_key_path: $dir/signing.key
log_config: $dir/log.yaml
registration_shared_secret: aura-test-shared-secret
macaroon_secret_key: aura-test-macaroon
form_secret: aura-test-form
report_stats: false
enable_registration: false
bcrypt_rounds: 4
federation_domain_whitelist: []
trusted_key_servers: []
suppress_key_server_warning: true
presence:
  enabled: false
url_preview_enabled: false
rc_message: $msg_rate
rc_registration: $relaxed
rc_login:
  address: $relaxed
  account: $relaxed
  failed_attempts: $relaxed
rc_admin_redaction: $relaxed
rc_joins:
  local: $relaxed
  remote: $relaxed
rc_joins_per_room: $relaxed
rc_invites:
  per_room: $relaxed
  per_user: $relaxed
  per_issuer: $relaxed
rc_3pid_validation: $relaxed
rc_key_requests: $relaxed
rc_delayed_event_mgmt: $relaxed
YAML
cat > "$dir/log.yaml" <<YAML
version: 1
formatters:
  precise:
    format: '%(asctime)s %(name)s %(levelname)s %(message)s'
handlers:
  file:
    class: logging.FileHandler
    filename: $dir/homeserver.log
    formatter: precise
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
YAML
# Synapse dies with this script whatever kills it (the test harness may SIGKILL it, which no trap can catch).
guard=()
if command -v setpriv >/dev/null; then guard=(setpriv --pdeathsig TERM); fi
"${guard[@]}" "$venv/bin/python" -m synapse.app.homeserver -c "$dir/homeserver.yaml" >"$dir/stdout.log" 2>&1 &
child=$!
trap 'kill $child 2>/dev/null; wait $child 2>/dev/null; exit 0' TERM INT
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
kill "$child" 2>/dev/null || true
wait "$child" 2>/dev/null || true
