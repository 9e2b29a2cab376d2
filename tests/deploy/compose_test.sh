#!/usr/bin/env bash
# Checks deploy/docker-compose.yml and deploy/docker/Dockerfile without a Docker
# engine (there is none on the project's machines). CTest runs it (test deploy_compose):
#
#   compose_test.sh --core BIN --gateway BIN --admin BIN
#
#  1. `docker-compose config` (Debian's docker-compose) accepts the compose file with
#     deploy/.env.example, and refuses it when the secrets are missing;
#  2. the structure of the resolved file: start order on health, health checks, the
#     internal network, only the gateway published, secrets from the env file only,
#     the volume, every TCHATATOR_ variable a real key of the daemon it is given to
#     (compose_check.py compose);
#  3. the Dockerfile: the linters dockerfile-utils and dockerfilelint (npm, installed
#     under a cache directory), our own rules (compose_check.py dockerfile), and that
#     the runtime stage's packages provide every shared library the binaries load;
#  4. the real binaries, in exactly the environment their containers get (image ENV,
#     then compose's), accept it: `--check-config` prints "configuration ok";
#  5. the health checks (compose's and the images') run here against a real gateway:
#     healthy while it runs, unhealthy once it is stopped.
# Installs what it needs when missing (apt-get: docker-compose, python3-yaml, npm).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/deploy
# shellcheck source=tests/lib/common.sh
source "$ROOT/tests/lib/common.sh"

# Versions of the npm linters, pinned so that a new release cannot break the suite.
NPM_LINTERS=(dockerfile-utils@0.16.3 dockerfilelint@1.8.0)
NPM_PREFIX=${TCHATATOR_NPM_CACHE:-/var/cache/tchatator-npm}
# Debian's python3, whose yaml module is Debian's python3-yaml.
PYTHON=/usr/bin/python3

core_bin='' gateway_bin='' admin_bin=''
while (($#)); do
  case $1 in
    --core) core_bin=$2; shift 2 ;;
    --gateway) gateway_bin=$2; shift 2 ;;
    --admin) admin_bin=$2; shift 2 ;;
    *) note "usage: $0 --core BIN --gateway BIN --admin BIN"; exit 2 ;;
  esac
done
for f in "$core_bin" "$gateway_bin" "$admin_bin"; do
  [[ -x $f ]] || { note "error: '$f' is not an executable"; exit 2; }
done
core_bin=$(realpath "$core_bin") gateway_bin=$(realpath "$gateway_bin")
admin_bin=$(realpath "$admin_bin")

COMPOSE_FILE=$ROOT/deploy/docker-compose.yml
ENV_EXAMPLE=$ROOT/deploy/.env.example
DOCKERFILE=$ROOT/deploy/docker/Dockerfile
WORK=$(mktemp -d /tmp/tchatator-compose-test.XXXXXX)
GATEWAY_PID=
cleanup() {
  local status=$?
  if [[ -n $GATEWAY_PID ]]; then
    kill "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

failed=0
pass() { printf 'ok   %s\n' "$*"; }
fail() {
  printf 'FAIL %s\n' "$*"
  failed=$((failed + 1))
}

# ---- tools --------------------------------------------------------------------------
section "tools"
missing=()
command -v docker-compose >/dev/null || missing+=(docker-compose)
"$PYTHON" -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
# npm: Debian's package only when there is no npm at all (a NodeSource nodejs ships its
# own npm and conflicts with Debian's).
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  note "installing missing Debian packages: ${missing[*]}"
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get update
  _as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The linters live under NPM_PREFIX (not installed globally); reinstalled only when the
# pinned versions change. flock: two runs at once must not both write there.
if ! mkdir -p "$NPM_PREFIX" 2>/dev/null || [[ ! -w $NPM_PREFIX ]]; then
  NPM_PREFIX=${XDG_CACHE_HOME:-$HOME/.cache}/tchatator-npm
  mkdir -p "$NPM_PREFIX"
fi
(
  flock 9
  want="${NPM_LINTERS[*]}"
  if [[ $(cat "$NPM_PREFIX/installed" 2>/dev/null) != "$want" ||
    ! -x $NPM_PREFIX/node_modules/.bin/dockerfile-utils ||
    ! -x $NPM_PREFIX/node_modules/.bin/dockerfilelint ]]; then
    note "installing ${NPM_LINTERS[*]} under $NPM_PREFIX"
    rm -f "$NPM_PREFIX/installed"
    npm install --prefix "$NPM_PREFIX" --no-save --no-audit --no-fund --loglevel=error \
      "${NPM_LINTERS[@]}" >&2
    printf '%s\n' "$want" >"$NPM_PREFIX/installed"
  fi
) 9>"$NPM_PREFIX/.lock"
DOCKERFILE_UTILS=$NPM_PREFIX/node_modules/.bin/dockerfile-utils
DOCKERFILELINT=$NPM_PREFIX/node_modules/.bin/dockerfilelint
note "docker-compose $(dpkg-query -W -f='${Version}' docker-compose 2>/dev/null || echo "(not from Debian)")"

# ---- 1. docker-compose config -------------------------------------------------------
section "docker-compose config"
# The project's real deploy/.env, if any, must not be what we test: --env-file wins,
# and the secrets must not come from the caller's environment either.
compose() {
  env -u POSTGRES_PASSWORD -u TCHATATOR_ADMIN_API_KEY -u GATEWAY_PUBLISHED_PORT \
    -u COMPOSE_PROJECT_NAME -u COMPOSE_FILE \
    docker-compose --project-directory "$ROOT/deploy" "$@"
}
if compose --env-file "$ENV_EXAMPLE" -f "$COMPOSE_FILE" config >"$WORK/config.yml" \
  2>"$WORK/config.err"; then
  pass "docker-compose config accepts the compose file with deploy/.env.example"
else
  fail "docker-compose config refused the compose file:"
  cat "$WORK/config.err"
  exit 1
fi
grep -v -E '^(POSTGRES_PASSWORD|TCHATATOR_ADMIN_API_KEY)=' "$ENV_EXAMPLE" >"$WORK/no-secrets.env"
if compose --env-file "$WORK/no-secrets.env" -f "$COMPOSE_FILE" config >/dev/null \
  2>"$WORK/refused.err"; then
  fail "docker-compose config accepted an env file without the secrets"
elif grep -q POSTGRES_PASSWORD "$WORK/refused.err"; then
  pass "without the secrets, docker-compose config refuses, naming POSTGRES_PASSWORD"
else
  fail "docker-compose config failed without the secrets, but not for them:"
  cat "$WORK/refused.err"
fi

# ---- 2. structure -------------------------------------------------------------------
section "structure of the compose file"
if "$PYTHON" "$HERE/compose_check.py" compose --config "$WORK/config.yml" \
  --compose "$COMPOSE_FILE" --env-example "$ENV_EXAMPLE" --dockerfile "$DOCKERFILE" \
  --dockerignore "$ROOT/.dockerignore" --core-bin "$core_bin" --repo "$ROOT"; then
  pass "compose structure"
else
  fail "compose structure"
fi

# ---- 3. Dockerfile --------------------------------------------------------------------
section "Dockerfile"
if "$DOCKERFILE_UTILS" lint "$DOCKERFILE"; then
  pass "dockerfile-utils lint: clean"
else
  fail "dockerfile-utils lint"
fi
# dockerfilelint reads a missing file's name as Dockerfile text: check it exists first.
# Its exit status is its number of findings: the filter below decides.
[[ -f $DOCKERFILE ]] || fail "no $DOCKERFILE"
"$DOCKERFILELINT" -j "$DOCKERFILE" >"$WORK/dockerfilelint.json" || true
if "$PYTHON" "$HERE/compose_check.py" lint-filter --dockerfile "$DOCKERFILE" \
  <"$WORK/dockerfilelint.json"; then
  pass "dockerfilelint: clean"
else
  fail "dockerfilelint"
fi
if "$PYTHON" "$HERE/compose_check.py" dockerfile --dockerfile "$DOCKERFILE" \
  --compose-config "$WORK/config.yml"; then
  pass "Dockerfile rules"
else
  fail "Dockerfile rules"
fi
if "$PYTHON" "$HERE/compose_check.py" runtime-libs --dockerfile "$DOCKERFILE" \
  --target "core=$core_bin,$admin_bin" --target "gateway=$gateway_bin"; then
  pass "runtime stage provides every shared library"
else
  fail "runtime stage libraries"
fi

# ---- 4. the binaries accept their container environment -------------------------------
section "--check-config in the containers' environment"
# container_env SERVICE: fills ENV_VARS with NAME=VALUE words (compose_check.py env).
container_env() {
  ENV_VARS=()
  mapfile -d '' ENV_VARS < <("$PYTHON" "$HERE/compose_check.py" env \
    --config "$WORK/config.yml" --dockerfile "$DOCKERFILE" --service "$1")
  ((${#ENV_VARS[@]} > 0)) || { note "error: no environment for $1"; return 1; }
}
for pair in "core:$core_bin" "gateway:$gateway_bin"; do
  service=${pair%%:*} bin=${pair#*:}
  container_env "$service"
  status=0
  output=$(cd / && env -i PATH=/usr/local/bin:/usr/bin:/bin "${ENV_VARS[@]}" "$bin" \
    --check-config 2>&1) || status=$?
  if ((status == 0)) && [[ $output == "configuration ok" ]]; then
    pass "$service: $(basename "$bin") --check-config with ${#ENV_VARS[@]} variables: $output"
  else
    fail "$service: $(basename "$bin") --check-config exited $status: $output"
  fi
done

# ---- 5. health checks against a real gateway -------------------------------------------
section "health checks"
container_env gateway
# The gateway's container environment, on a free port of 127.0.0.1 instead of 0.0.0.0:4242
# (and its metrics on another).
# The port is free when chosen but another test's daemon may take it first: then this
# gateway exits, and the health checks would reach the other one. Its own log line says
# it listens.
start_gateway() {
  port=$(free_port)
  (cd / && exec env -i PATH=/usr/local/bin:/usr/bin:/bin "${ENV_VARS[@]}" \
    TCHATATOR_PORT="$port" TCHATATOR_GATEWAY_METRICS_PORT="$(free_port)" \
    TCHATATOR_LISTEN_ADDRESS=127.0.0.1 "$gateway_bin" \
    >"$WORK/gateway.log" 2>&1) &
  GATEWAY_PID=$!
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    grep -q "listening on 127.0.0.1:$port" "$WORK/gateway.log" && return 0
    proc_alive "$GATEWAY_PID" || return 1
    sleep 0.2
  done
  return 1
}
started=0
for attempt in 1 2 3; do
  if start_gateway; then
    started=1
    break
  fi
  note "attempt $attempt to start the gateway on port $port failed"
  kill "$GATEWAY_PID" 2>/dev/null || true
  wait "$GATEWAY_PID" 2>/dev/null || true
done
if ((started)); then
  health() {
    "$PYTHON" "$HERE/compose_check.py" health --config "$WORK/config.yml" \
      --dockerfile "$DOCKERFILE" "$@"
  }
  for expect in ok fail; do
    if [[ $expect == fail ]]; then
      kill "$GATEWAY_PID"
      wait "$GATEWAY_PID" 2>/dev/null || true
      GATEWAY_PID=
    fi
    # The core's checks are TCP connects: the gateway's port stands in for its gRPC port.
    if health --service gateway --expect "$expect" --set "TCHATATOR_PORT=$port" &&
      health --service core --expect "$expect" --set "TCHATATOR_GRPC_PORT=$port"; then
      pass "health checks report $([[ $expect == ok ]] && echo healthy || echo unhealthy)" \
        "while the gateway $([[ $expect == ok ]] && echo runs || echo is stopped)"
    else
      fail "health checks with the gateway $([[ $expect == ok ]] && echo running || echo stopped)"
    fi
  done
else
  fail "the gateway did not start with its container environment:"
  cat "$WORK/gateway.log"
fi

section "compose_test"
if ((failed)); then
  note "$failed check group(s) failed"
  exit 1
fi
echo "compose_test: all checks passed"
