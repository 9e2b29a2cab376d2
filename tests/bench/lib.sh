# tests/bench/lib.sh: what tests/bench/run, tests/bench/instructions and tests/bench/hops
# share. Sourced.

# make_pairs ADMIN CORE ADMIN_KEY FILE N LABEL: N members, then N pros, created with the
# tchatator-admin binary ADMIN on the core at CORE (host:port), 4 at a time, so that the
# members' ids and the pros' ids are two consecutive ranges (pgbench picks senders by id
# range). FILE gets "member_id member_key pro_id pro_key" lines. Returns 1 on failure.
make_pairs() {
  local admin=$1 core=$2 key=$3 file=$4 n=$5 label=$6 role i job
  local tmp
  tmp=$(mktemp -d) || return 1
  local -a jobs=()
  for role in member pro; do
    for ((i = 0; i < n; i++)); do
      "$admin" --core "$core" --admin-key "$key" \
        user add --role "$role" --name "bench $label $role $i" >"$tmp/$role.$i" &
      jobs+=($!)
      if ((${#jobs[@]} == 4 || i == n - 1)); then
        for job in "${jobs[@]}"; do
          wait "$job" || { echo "tchatator-admin user add failed" >&2; rm -rf "$tmp"; return 1; }
        done
        jobs=()
      fi
    done
  done
  : >"$file"
  local m p
  for ((i = 0; i < n; i++)); do
    m=$(sed -n 's/^user-id://p; s/^api-key://p' "$tmp/member.$i" | paste -sd' ')
    p=$(sed -n 's/^user-id://p; s/^api-key://p' "$tmp/pro.$i" | paste -sd' ')
    if [[ $m != *' '* || $p != *' '* ]]; then
      echo "unexpected tchatator-admin output: $m / $p" >&2
      rm -rf "$tmp"
      return 1
    fi
    printf '%s %s\n' "$m" "$p" >>"$file"
  done
  rm -rf "$tmp"
}

# start_core WORK PG_PORT ADMIN_KEY BIN [WRAPPER...]: starts BIN/tchatator-core (rate limit
# off, gRPC on a free port of 127.0.0.1, logs in WORK) on the private cluster WORK/pg,
# under WRAPPER if given (valgrind, say), and waits for its port. Sets CORE_PID and
# GRPC_PORT; returns 1 (the core stopped) if it does not come up.
start_core() {
  local work=$1 pg_port=$2 admin_key=$3 bin=$4
  shift 4
  GRPC_PORT=$(free_port)
  env TCHATATOR_MAX_MESSAGES_PER_MINUTE=0 TCHATATOR_MAX_MESSAGES_PER_HOUR=0 \
    TCHATATOR_GRPC_PORT="$GRPC_PORT" TCHATATOR_LISTEN_ADDRESS=127.0.0.1 \
    TCHATATOR_DATABASE_URL="host=$work/pg port=$pg_port user=postgres dbname=tchatator" \
    TCHATATOR_ADMIN_API_KEY="$admin_key" TCHATATOR_LOG_FILE="$work/core.log" \
    "$@" "$bin/tchatator-core" </dev/null >>"$work/core.out" 2>&1 &
  CORE_PID=$!
  _await_daemon "$GRPC_PORT" "$CORE_PID" "$work/core.out"
}

# start_gateway WORK BIN [WRAPPER...]: starts BIN/tchatator-gateway on a free port of
# 127.0.0.1 for the core at GRPC_PORT (start_core), as start_core does. Sets GATEWAY_PID
# and GATEWAY_PORT; returns 1 (the gateway stopped) if it does not come up.
start_gateway() {
  local work=$1 bin=$2
  shift 2
  GATEWAY_PORT=$(free_port)
  env TCHATATOR_PORT="$GATEWAY_PORT" TCHATATOR_CORE_ADDRESS="127.0.0.1:$GRPC_PORT" \
    TCHATATOR_LISTEN_ADDRESS=127.0.0.1 TCHATATOR_CORE_TIMEOUT_MS=60000 \
    TCHATATOR_LOG_FILE="$work/gateway.log" \
    "$@" "$bin/tchatator-gateway" </dev/null >>"$work/gateway.out" 2>&1 &
  GATEWAY_PID=$!
  _await_daemon "$GATEWAY_PORT" "$GATEWAY_PID" "$work/gateway.out" gateway
}

# _await_daemon PORT PID OUT [gateway]: waits up to 120 s for the daemon PID to accept
# connections on 127.0.0.1:PORT (a gateway: and to answer through its core); else shows
# the end of its output OUT, stops it and returns 1.
_await_daemon() {
  if wait_port 127.0.0.1 "$1" 120 "$2" &&
    { [[ ${4:-} != gateway ]] || wait_gateway_serving 127.0.0.1 "$1" 120 "$2"; }; then
    return 0
  fi
  tail "$3" >&2
  kill "$2" 2>/dev/null
  return 1
}
