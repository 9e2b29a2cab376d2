# tests/bench/lib.sh: what tests/bench/run and tests/bench/instructions share. Sourced.

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
