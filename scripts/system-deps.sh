#!/usr/bin/env bash
# Everything outside the venv that the tests need, on Debian 12 (`make deps`; `make test` runs it
# first): the Debian packages below, and Redis on 127.0.0.1:6379 and PostgreSQL on
# 127.0.0.1:5432 (user postgres, trust auth on local TCP) running.
#
# Idempotent. When everything is there it only asks dpkg and pings both services (well under a
# second) and changes nothing. Installing or starting something needs root; as another user it
# stops with the command to run instead.
set -euo pipefail

# The Debian packages, all in one place (installed in one apt-get call when any is missing).
PACKAGES=(
  python3.11-venv build-essential   # `make` builds .venv; a few wheels compile C
  chromium                          # tests/test_browser.py: Playwright drives /usr/bin/chromium, never a downloaded browser
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly  # RTSP camera server
  php-cli php-curl                  # PHP client
  curl                              # tests/docs: the documents' curl examples
  ffmpeg
  python3.11-dev                    # hnswlib (gallery ANN index) compiles against the Python headers
)
# Installed only when the service is down and its server is not installed, so a Redis or
# PostgreSQL already running some other way (a container, another package) is used as it is.
REDIS_PACKAGE=redis-server
POSTGRES_PACKAGE=postgresql

# Overridable only to exercise the start-up paths on spare ports; the tests use the defaults.
REDIS_PORT=${REDIS_PORT:-6379}
PG_PORT=${PG_PORT:-5432}
REDIS_LOG=${REDIS_LOG:-/var/log/redis/facestream-tests.log}
# The pg_hba.conf line added to a cluster this script created (never to an existing one).
PG_TRUST_LINE="host    all             postgres        127.0.0.1/32            trust"

say() { echo "system-deps: $*" >&2; }
die() { say "$*"; exit 1; }
is_root() { [[ $(id -u) -eq 0 ]]; }

redis_up() {
  if command -v redis-cli >/dev/null; then
    [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
  else  # no client installed: speak the protocol directly
    local reply=""
    { exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT"; } 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    read -r -t 2 reply <&3 || true
    exec 3<&- 3>&-
    [[ $reply == +PONG* ]]
  fi
}

pg_up() {
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 3
  else
    { exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT"; } 2>/dev/null || return 1
    exec 3<&- 3>&-
  fi
}

# "version name" of the Debian cluster on $PG_PORT, or nothing.
pg_cluster() {
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null | awk -v port="$PG_PORT" '$3 == port { print $1, $2; exit }'
}

wait_for() {  # wait_for <seconds> <command...>
  local tries=$(($1 * 10)); shift
  until "$@"; do
    tries=$((tries - 1))
    ((tries > 0)) || return 1
    sleep 0.1
  done
}

# --- Packages -------------------------------------------------------------------------------
missing=()
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' \
  "${PACKAGES[@]}" "$REDIS_PACKAGE" "$POSTGRES_PACKAGE" 2>/dev/null || true)
is_installed() { grep -qx "$1 installed" <<<"$installed"; }
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done
# tests/docs runs the documents' Node examples: Node >= 20.10 (fetch, FormData, WebSocket with
# --experimental-websocket). Any node already on PATH is used; Debian's nodejs only when none is.
command -v node >/dev/null || missing+=(nodejs)
# ... and npm, for the packages those examples import (tests/docs/js, installed by `make test`).
command -v npm >/dev/null || missing+=(npm)
redis_down=0; pg_down=0
redis_up || redis_down=1
pg_up || pg_down=1
if ((redis_down)) && ! command -v redis-server >/dev/null; then
  missing+=("$REDIS_PACKAGE")
fi
pg_had_cluster=""
if ((pg_down)); then
  pg_had_cluster=$(pg_cluster)
  if [[ -z $pg_had_cluster ]] && ! { command -v pg_ctlcluster >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; }; then
    missing+=("$POSTGRES_PACKAGE")
  fi
fi

if ((${#missing[@]})); then
  install_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
  is_root || die "missing Debian packages: ${missing[*]}
  install them as root:  $install_cmd
  (or run: sudo make deps)"
  command -v apt-get >/dev/null || die "no apt-get here; install these Debian packages: ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
fi

# --- Redis ----------------------------------------------------------------------------------
if ((redis_down)) && ! redis_up; then
  redis_cmd=(redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT"
    --save "" --appendonly no --dir /var/lib/redis --logfile "$REDIS_LOG")
  is_root || die "Redis is not answering on 127.0.0.1:$REDIS_PORT; start it as root:
  $(printf '%q ' "${redis_cmd[@]}")
  (or run: sudo make deps)"
  say "starting redis on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
  mkdir -p /var/lib/redis "$(dirname "$REDIS_LOG")"
  "${redis_cmd[@]}"
  wait_for 10 redis_up || die "Redis did not come up on 127.0.0.1:$REDIS_PORT; see $REDIS_LOG"
fi

# --- PostgreSQL -----------------------------------------------------------------------------
if ((pg_down)) && ! pg_up; then
  cluster=$pg_had_cluster
  created=0
  if [[ -z $cluster ]]; then
    # No cluster served $PG_PORT before this run: use the one a fresh install just created, or
    # create one. Only such a new cluster gets its pg_hba.conf changed; an existing one never.
    is_root || die "no PostgreSQL cluster on port $PG_PORT; create one as root (or run: sudo make deps)"
    cluster=$(pg_cluster)
    if [[ -z $cluster ]]; then
      version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
      name=main
      [[ ! -e /etc/postgresql/$version/main ]] || name=facestream  # main serves another port
      say "creating PostgreSQL cluster $version/$name on port $PG_PORT"
      pg_createcluster "$version" "$name" --port "$PG_PORT" >/dev/null
      cluster=$(pg_cluster)
      [[ -n $cluster ]] || die "no PostgreSQL cluster on port $PG_PORT (see pg_lsclusters)"
    fi
    created=1
  fi
  read -r version name <<<"$cluster"
  if ((created)); then
    # Trust local TCP for user postgres, as the tests expect: first line of pg_hba.conf (first
    # match wins), written in place so the file keeps its owner and mode.
    hba=/etc/postgresql/$version/$name/pg_hba.conf
    if ! grep -qxF "$PG_TRUST_LINE" "$hba"; then
      say "trusting user postgres on 127.0.0.1 in $hba"
      new=$(awk -v line="$PG_TRUST_LINE" '
        !done && $0 !~ /^[[:space:]]*(#|$)/ { print "# added by facestream scripts/system-deps.sh (tests)"; print line; done = 1 }
        { print }
        END { if (!done) print line }' "$hba")
      printf '%s\n' "$new" >"$hba"
    fi
  fi
  start_cmd="pg_ctlcluster --skip-systemctl-redirect $version $name start"
  is_root || die "PostgreSQL is not answering on 127.0.0.1:$PG_PORT; start it as root:
  $start_cmd
  (or run: sudo make deps)"
  say "starting PostgreSQL $version/$name"
  # A fresh install may already have started it (then this reloads the new pg_hba.conf).
  if [[ $(pg_lsclusters -h | awk -v v="$version" -v n="$name" '$1 == v && $2 == n { print $4 }') == online ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload
  else
    $start_cmd
  fi
  wait_for 30 pg_up || die "PostgreSQL did not come up on 127.0.0.1:$PG_PORT; see /var/log/postgresql/"
fi

# The tests log in as postgres over TCP without a password; say so now rather than in 20 tests.
if command -v psql >/dev/null \
  && ! PGCONNECT_TIMEOUT=3 psql -X -w -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  die "PostgreSQL on 127.0.0.1:$PG_PORT refuses user postgres without a password; the tests need
  this line near the top of the cluster's pg_hba.conf (then reload it):
  $PG_TRUST_LINE"
fi
