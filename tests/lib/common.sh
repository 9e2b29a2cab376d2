# shellcheck shell=bash
# Shared helpers for tests/run, deploy/local/up and the test scripts.
# Source it from bash; it sets no shell options of its own.
#
#   install_deps                       install the Debian packages the project needs
#   install_packages PKG...            install those of the Debian packages that are missing
#   build_project SRC BUILD [ARGS...]  configure (Ninja, RelWithDebInfo) and build
#   free_port                          print a free TCP port on 127.0.0.1
#   port_is_free PORT                  succeed if 127.0.0.1:PORT can be bound now
#   pg_start DIR PORT [CONF_LINE...]   start (initdb if needed) a private PostgreSQL 15
#   pg_stop DIR                        stop that cluster (no-op when it is not running)
#   pg_psql DIR PORT [PSQL_ARGS...]    psql as user postgres through the cluster's socket
#   wait_port HOST PORT SECONDS [PID]  wait until HOST:PORT accepts a TCP connection
#   wait_gateway_serving HOST PORT SECONDS [PID]
#                                      wait until a gateway there has a core answering
#
# Functions report failures on stderr and return non-zero; they do not rely on
# `set -e`, so they behave the same inside `if` and `||`.

TCHATATOR_DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libpqxx-dev libasio-dev libabsl-dev libgtest-dev libgmock-dev libssl-dev
  postgresql-15 python3 ca-certificates netcat-openbsd docker-compose python3-yaml
)
# What the benchmark (tests/bench/run, and its miniature in the suite) needs besides:
# gnuplot draws its latency plot.
TCHATATOR_BENCH_PACKAGES=(gnuplot-nox)
TCHATATOR_PG_BIN=${TCHATATOR_PG_BIN:-/usr/lib/postgresql/15/bin}

# Messages go to stderr so that stdout stays machine-readable.
note() { printf '%s\n' "$*" >&2; }
section() { printf '\n==== %s ====\n' "$*" >&2; }

# Run a command as root: directly when we are root, else through sudo.
_as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    note "error: '$*' needs root and sudo is not available"
    return 1
  fi
}

install_deps() { install_packages "${TCHATATOR_DEBIAN_PACKAGES[@]}"; }

# install_packages PKG...: installs those of the Debian packages that are missing.
install_packages() {
  local pkg status missing=()
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    note "all $# required Debian packages are installed"
    return 0
  fi
  note "installing missing Debian packages: ${missing[*]}"
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get update || {
    note "error: apt-get update failed"
    return 1
  }
  _as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}" || {
    note "error: apt-get install failed for: ${missing[*]}"
    return 1
  }
}

# build_project SRC BUILD [extra cmake arguments...]
# A build directory configured earlier with another generator (a plain
# `cmake -S . -B build` uses Makefiles) keeps that generator: CMake refuses to
# switch generators in an existing build directory.
build_project() {
  local src=$1 build=$2
  shift 2
  local generator=(-G Ninja)
  if [[ -f $build/CMakeCache.txt ]]; then
    generator=()
  fi
  cmake "${generator[@]}" -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" || {
    note "error: cmake configure failed (source $src, build $build)"
    return 1
  }
  cmake --build "$build" -j"$(nproc)" || {
    note "error: build failed in $build"
    return 1
  }
}

free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# port_is_free PORT: can a server bind 127.0.0.1:PORT right now?  SO_REUSEADDR as
# servers set it, so that connections left in TIME_WAIT do not count as "in use".
port_is_free() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

# Run a PostgreSQL tool as the cluster owner: initdb and pg_ctl refuse to run as
# root, so root runs them as user postgres. `cd /` first: postgres may not be
# able to enter the caller's working directory (e.g. /root).
_pg_owner_run() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# Quote a value for a postgresql.conf line.
_pg_conf_quote() {
  local v=${1//\\/\\\\}
  printf "'%s'" "${v//\'/\'\'}"
}

# pg_start DIR PORT [CONF_LINE...]
# DIR is the data directory; it is created if missing and initialised if it has no
# PG_VERSION. The server listens on 127.0.0.1:PORT and on a Unix socket in DIR, and
# logs to DIR/postgres.log. Extra arguments are postgresql.conf lines
# (e.g. "max_connections = 200"). fsync stays on (the default).
pg_start() {
  local dir=$1 port=$2
  shift 2
  local bin=$TCHATATOR_PG_BIN
  if [[ ! -x $bin/initdb || ! -x $bin/pg_ctl ]]; then
    note "error: PostgreSQL 15 binaries not found in $bin (package postgresql-15)"
    return 1
  fi
  mkdir -p "$dir" || return 1
  dir=$(cd "$dir" && pwd -P) || return 1
  # A Unix socket path is limited to 107 bytes.
  if ((${#dir} + ${#port} + 11 > 107)); then
    note "error: PostgreSQL socket path $dir/.s.PGSQL.$port is too long (max 107 bytes)"
    return 1
  fi
  if [[ $EUID -eq 0 ]]; then
    if ! id postgres >/dev/null 2>&1; then
      note "error: user postgres does not exist (is postgresql-15 installed?)"
      return 1
    fi
    chown postgres:postgres "$dir" || return 1
    if ! runuser -u postgres -- test -x "$dir" -a -w "$dir"; then
      note "error: user postgres cannot reach $dir: every parent directory must be" \
        "traversable by postgres (not under /root; chmod 755 a mktemp -d directory)"
      return 1
    fi
  fi
  if _pg_owner_run "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1; then
    note "error: a PostgreSQL server is already running on $dir"
    return 1
  fi
  if [[ ! -f $dir/PG_VERSION ]]; then
    local locale=C
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
    note "initialising PostgreSQL cluster in $dir"
    local out
    if ! out=$(_pg_owner_run "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 \
      --locale="$locale" 2>&1); then
      note "error: initdb failed:"
      printf '%s\n' "$out" >&2
      return 1
    fi
  fi
  # Per-start settings live in an included file, so that paths with spaces or
  # quotes survive (pg_ctl -o goes through a shell).
  if ! grep -q "tchatator-runtime.conf" "$dir/postgresql.conf"; then
    printf "\n# Written by tchatator's tests/lib/common.sh (pg_start)\ninclude_if_exists = 'tchatator-runtime.conf'\n" \
      >>"$dir/postgresql.conf" || return 1
  fi
  {
    echo "# Rewritten by tchatator's tests/lib/common.sh at every pg_start."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = $(_pg_conf_quote "$dir")"
    echo "logging_collector = off"
    local line
    for line in "$@"; do echo "$line"; done
  } >"$dir/tchatator-runtime.conf" || return 1
  chmod 644 "$dir/tchatator-runtime.conf"
  if [[ $EUID -eq 0 ]]; then
    chown postgres:postgres "$dir/tchatator-runtime.conf"
  fi
  # setsid: the server gets its own session, so a Ctrl-C at the terminal does not
  # reach it and the caller's trap stops it in order.
  if ! _pg_owner_run setsid "$bin/pg_ctl" start -D "$dir" -l "$dir/postgres.log" -w -t 60 \
    >/dev/null; then
    note "error: PostgreSQL did not start on port $port; end of $dir/postgres.log:"
    tail -n 20 "$dir/postgres.log" >&2 || true
    return 1
  fi
  local i
  for ((i = 0; i < 300; i++)); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
      return 0
    fi
    sleep 0.1
  done
  note "error: PostgreSQL on port $port is not ready after 30 s; see $dir/postgres.log"
  return 1
}

# pg_stop DIR: fast shutdown; succeeds when nothing is running there.
pg_stop() {
  local dir=$1 bin=$TCHATATOR_PG_BIN
  [[ -f $dir/PG_VERSION ]] || return 0
  local rc=0
  _pg_owner_run "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1 || rc=$?
  case $rc in
    0) ;;
    3) return 0 ;; # not running
    *)
      note "error: pg_ctl status -D $dir failed (exit $rc): cannot tell whether it runs"
      _pg_owner_run "$bin/pg_ctl" status -D "$dir" >&2 || true
      return 1
      ;;
  esac
  if _pg_owner_run "$bin/pg_ctl" stop -D "$dir" -m fast -w -t 60 >/dev/null; then
    return 0
  fi
  note "warning: fast shutdown of $dir failed; trying immediate shutdown"
  _pg_owner_run "$bin/pg_ctl" stop -D "$dir" -m immediate -w -t 30 >/dev/null
}

# pg_psql DIR PORT [psql arguments...]: psql as user postgres on database
# postgres (override with -d) through the cluster's Unix socket.
pg_psql() {
  local dir=$1 port=$2
  shift 2
  "$TCHATATOR_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres \
    -d postgres "$@"
}

# wait_port HOST PORT SECONDS [PID]: poll until a TCP connect to HOST:PORT works.
# With PID, give up as soon as that process is gone (or a zombie).
wait_port() {
  local host=$1 port=$2 seconds=$3 pid=${4:-}
  local deadline=$((SECONDS + seconds))
  while :; do
    # shellcheck disable=SC2016  # $1 and $2 expand in the inner bash
    if timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null; then
      return 0
    fi
    if [[ -n $pid ]] && ! proc_alive "$pid"; then
      note "error: process $pid exited before $host:$port accepted connections"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      note "error: $host:$port did not accept connections within $seconds s"
      return 1
    fi
    sleep 0.2
  done
}

# wait_gateway_serving HOST PORT SECONDS [PID]: poll until a request through the gateway
# at HOST:PORT is answered by a core. A gateway listens before its channel to the core
# is up; until then it answers 503. The probe is a USER_INFO with a token that names no
# session: the core's answer is 401 (it is not a LOGIN, so it counts no failed login).
wait_gateway_serving() {
  local host=$1 port=$2 seconds=$3 pid=${4:-} first=''
  local deadline=$((SECONDS + seconds))
  while :; do
    # shellcheck disable=SC2016  # $1 and $2 expand in the inner bash
    first=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
      printf "USER_INFO\ntoken:readiness-probe\nuser-id:1\n\n" >&3
      IFS= read -r line <&3 && printf "%s" "$line"' _ "$host" "$port" 2>/dev/null) || true
    [[ $first == 401/* ]] && return 0
    if [[ -n $pid ]] && ! proc_alive "$pid"; then
      note "error: process $pid exited before $host:$port answered through its core"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      note "error: $host:$port did not answer through its core within $seconds s" \
        "(last answer: '${first:-none}')"
      return 1
    fi
    sleep 0.2
  done
}

# proc_alive PID: the process exists and is not a zombie (kill -0 succeeds on an
# exited child that has not been reaped yet).
proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}
