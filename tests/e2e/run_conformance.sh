#!/usr/bin/env bash
# Runs the shared wire-protocol conformance suite against a fresh stack: a new database
# in the cluster named by TCHATATOR_TEST_PG, a core and a gateway on free ports.
# Exits with the suite's status. CTest calls it (test `conformance`):
#
#   run_conformance.sh --core BIN --gateway BIN --admin BIN --suite DIR [-- extra args]
#
# Extra arguments go to conformance.py (e.g. -- --cases seed_example_bytes -v).
set -euo pipefail

# The groups of conformance.py the project implements so far; extend as features land.
GROUPS_TO_RUN=(seed framing reading rules)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/lib/common.sh
source "$ROOT/tests/lib/common.sh"

core_bin= gateway_bin= admin_bin= suite_dir=
extra=()
while (($#)); do
  case $1 in
    --core) core_bin=$2; shift 2 ;;
    --gateway) gateway_bin=$2; shift 2 ;;
    --admin) admin_bin=$2; shift 2 ;;
    --suite) suite_dir=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) note "usage: $0 --core BIN --gateway BIN --admin BIN --suite DIR [-- ARGS]"; exit 2 ;;
  esac
done
for f in "$core_bin" "$gateway_bin" "$admin_bin"; do
  [[ -x $f ]] || { note "error: '$f' is not an executable"; exit 2; }
done
[[ -f $suite_dir/conformance.py ]] || { note "error: no conformance.py in '$suite_dir'"; exit 2; }
if [[ -z ${TCHATATOR_TEST_PG:-} ]]; then
  note "error: TCHATATOR_TEST_PG is not set: run the tests through tests/run"
  exit 1
fi

WORK=$(mktemp -d /tmp/tchatator-conformance.XXXXXX)
DB_NAME="conf_$(date +%s)_$$_${RANDOM}"
ADMIN_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
core_pid= gateway_pid= db_created=0 status=1

# shellcheck disable=SC2317  # called through the trap
cleanup() {
  trap - EXIT INT TERM
  local pid
  for pid in "$gateway_pid" "$core_pid"; do
    [[ -n $pid ]] || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "$gateway_pid" "$core_pid"; do
    [[ -n $pid ]] || continue
    local i
    for ((i = 0; i < 50; i++)); do
      proc_alive "$pid" || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if ((db_created)); then
    psql -X -q -d "$TCHATATOR_TEST_PG" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" \
      >/dev/null 2>&1 || note "warning: could not drop database $DB_NAME"
  fi
  if ((status != 0)); then
    local log
    for log in "$WORK"/core.log "$WORK"/gateway.log; do
      [[ -f $log ]] || continue
      note "----- last lines of $log"
      tail -n 40 "$log" >&2 || true
    done
    note "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'status=130; exit 130' INT
trap 'status=143; exit 143' TERM

psql -X -q -v ON_ERROR_STOP=1 -d "$TCHATATOR_TEST_PG" -c "CREATE DATABASE $DB_NAME" >/dev/null
db_created=1

# A port free a moment ago can be taken before the daemon binds it: retry.
start_daemon() { # NAME PORT_VAR -- command...: sets <NAME>_pid
  local name=$1 port=$2
  shift 2
  env "$@" >>"$WORK/$name.log" 2>&1 &
  local pid=$!
  if wait_port 127.0.0.1 "$port" 30 "$pid"; then
    printf -v "${name}_pid" '%s' "$pid"
    return 0
  fi
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}

grpc_port=
for attempt in 1 2 3; do
  port=$(free_port)
  if start_daemon core "$port" \
    TCHATATOR_DATABASE_URL="$TCHATATOR_TEST_PG dbname=$DB_NAME" \
    TCHATATOR_GRPC_PORT="$port" TCHATATOR_ADMIN_API_KEY="$ADMIN_KEY" \
    TCHATATOR_LISTEN_ADDRESS=127.0.0.1 TCHATATOR_LOG_FILE="$WORK/core.log" \
    "$core_bin"; then
    grpc_port=$port
    break
  fi
  note "attempt $attempt to start tchatator-core on port $port failed"
done
[[ -n $grpc_port ]] || { note "error: tchatator-core did not start"; exit 1; }

gateway_port=
for attempt in 1 2 3; do
  port=$(free_port)
  if start_daemon gateway "$port" \
    TCHATATOR_PORT="$port" TCHATATOR_CORE_ADDRESS="127.0.0.1:$grpc_port" \
    TCHATATOR_LISTEN_ADDRESS=127.0.0.1 TCHATATOR_LOG_FILE="$WORK/gateway.log" \
    "$gateway_bin"; then
    gateway_port=$port
    break
  fi
  note "attempt $attempt to start tchatator-gateway on port $port failed"
done
[[ -n $gateway_port ]] || { note "error: tchatator-gateway did not start"; exit 1; }

group_args=()
for g in "${GROUPS_TO_RUN[@]}"; do group_args+=(--group "$g"); done
note "conformance: gateway 127.0.0.1:$gateway_port, core 127.0.0.1:$grpc_port, groups: ${GROUPS_TO_RUN[*]}"
status=0
python3 "$suite_dir/conformance.py" --gateway "127.0.0.1:$gateway_port" \
  --admin-cmd "$admin_bin --core 127.0.0.1:$grpc_port --admin-key $ADMIN_KEY" \
  "${group_args[@]}" "${extra[@]}" || status=$?
exit "$status"
