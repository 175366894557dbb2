#!/usr/bin/env bash
# Builds leaderbot's container image and checks it, end to end, on a machine that reaches only
# the package registries (Debian's and PyPI), no image registry:
#
#   1. tools:   mmdebstrap, buildah, podman, uidmap (apt-get install when missing)
#   2. rootfs:  mmdebstrap a minimal Debian bookworm with python3 (cached, see CACHE below)
#   3. import:  podman import it as localhost/debian-py:bookworm (skipped when already there)
#   4. build:   buildah build the Dockerfile on that base (chroot isolation, host network)
#   5. checks:  buildah run the image (chroot isolation): the image's user is not root,
#               `leaderbot questions` lists Q1…Q10, and `leaderbot run` (Slack in HTTP mode with
#               dummy credentials, SQLite in the data dir) serves GET /healthz with 200; the
#               image's own HEALTHCHECK command passes against it
#
# Run as root (apt-get, mmdebstrap and buildah need it): `bash deploy/container-check.sh`.
# Prints each step's duration and PASS or FAIL; exits non-zero on failure. Every wait is
# bounded. pip inside the build is configured like the host's pip (index URLs that are http(s),
# trusted hosts, a CA bundle under /etc/ssl/certs), read from `pip config list` at run time.
#
# Settings (environment): LEADERBOT_CACHE_DIR (default ${XDG_CACHE_HOME:-/var/cache}/leaderbot)
# holds the rootfs tarball; delete it for a cold run. LEADERBOT_DEBIAN_SOURCES: an apt sources
# file for mmdebstrap (default: the host's debian.sources when it names bookworm, else
# mmdebstrap's default mirror). LEADERBOT_IMAGE: the tag to build (localhost/leaderbot:check).
#
# What it leaves: the rootfs tarball, the base image, the checked image and the newest build
# stage's image, buildah's layer cache (what makes the next run take seconds). What it removes, pass or fail, interrupted too:
# its working container (and any left by an earlier run that was killed), its temp directory,
# a partial rootfs tarball, the image a new build replaces, and the intermediate containers of
# a failed build, and the unnamed images older or failed builds left. `--clean` also removes the checked
# image, its build stage (the layer cache), the base image and the tarball.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
BASE_IMAGE=localhost/debian-py:$SUITE
IMAGE=${LEADERBOT_IMAGE:-localhost/leaderbot:check}
CACHE=${LEADERBOT_CACHE_DIR:-${XDG_CACHE_HOME:-/var/cache}/leaderbot}
ROOTFS=$CACHE/debian-py-$SUITE.tar
WORK=$(mktemp -d "${TMPDIR:-/tmp}/leaderbot-container-check.XXXXXX")
CLEAN=0
case ${1:-} in
  --clean) CLEAN=1 ;;
  "") ;;
  *) printf 'usage: bash deploy/container-check.sh [--clean]\n' >&2; exit 2 ;;
esac
CTR=""
PART=""
BOT_PID=""
CURRENT=""
SUMMARY=()

say() { printf '[container-check] %s\n' "$*" >&2; }
# step NAME COMMAND…: runs a step, timing it. Not `"$@" || …`: that would turn off `set -e`
# inside the step; a failing command ends the script, and the EXIT trap names the step.
step() {
  local name=$1 start end
  shift
  say "--- $name"
  CURRENT=$name
  start=$(date +%s)
  "$@"
  end=$(date +%s)
  SUMMARY+=("$(printf '%-8s %4ss' "$name" $((end - start)))")
  CURRENT=""
}

cleanup() {
  local rc=$?
  [[ -z $BOT_PID ]] || stop_bot || true
  if [[ -n $CTR ]]; then
    timeout 60 buildah rm "$CTR" >/dev/null 2>&1 || say "could not remove working container $CTR"
  fi
  [[ -z $PART ]] || rm -rf "$PART"
  remove_stale_images
  rm -rf "$WORK"
  ((CLEAN == 0)) || remove_all
  say "=== summary"
  local line
  for line in "${SUMMARY[@]}"; do say "$line"; done
  if [[ $rc -eq 0 ]]; then
    say "PASS: image $IMAGE ($(image_size)) runs as a non-root user, lists Q1-Q10, serves /healthz"
  else
    say "FAIL: step ${CURRENT:-?} (exit $rc)"
  fi
  exit "$rc"
}
trap cleanup EXIT
# A signal ends the script through the EXIT trap, so it cleans up when interrupted too.
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# --clean: the images and the tarball too.
remove_all() {
  local image
  for image in "$IMAGE" "$BASE_IMAGE"; do
    if podman image exists "$image" 2>/dev/null; then
      timeout 120 podman rmi "$image" >/dev/null 2>&1 || say "could not remove image $image"
    fi
  done
  while IFS= read -r image; do
    timeout 120 podman rmi "$image" >/dev/null 2>&1 || say "could not remove build stage $image"
  done < <(podman images --filter label=org.leaderbot.stage=build --filter dangling=true \
    --format '{{.ID}}' 2>/dev/null)
  rm -f "$ROOTFS"
  say "--clean: removed $IMAGE, its build stage, $BASE_IMAGE and $ROOTFS"
}

# Working containers left by an earlier run that was killed before its EXIT trap ran: named
# leaderbot-check-PID, PID no longer alive.
remove_stale_containers() {
  local name
  while IFS= read -r name; do
    [[ $name =~ ^leaderbot-check-([0-9]+)$ ]] || continue
    kill -0 "${BASH_REMATCH[1]}" 2>/dev/null && continue
    timeout 60 buildah rm "$name" >/dev/null 2>&1 && say "removed stale working container $name"
  done < <(buildah containers --format '{{.ContainerName}}' 2>/dev/null)
}

# The processes under PID that have no children of their own: the bot (and whatever it runs),
# not buildah's helpers in between. From /proc, so no procps is needed.
leaves_under() {
  local f stat fields pid todo=("$1") out=()
  local -A kids=()
  for f in /proc/[0-9]*/stat; do
    stat=$(<"$f") 2>/dev/null || continue
    read -ra fields <<<"${stat##*) }"
    kids[${fields[1]}]+=" ${f//[^0-9]/}"
  done
  while ((${#todo[@]})); do
    pid=${todo[0]}
    todo=("${todo[@]:1}")
    if [[ -n ${kids[$pid]:-} ]]; then
      read -ra fields <<<"${kids[$pid]}"
      todo+=("${fields[@]}")
    elif [[ $pid != "$1" ]]; then
      out+=("$pid")
    fi
  done
  ((${#out[@]} == 0)) || printf '%s\n' "${out[@]}"
}

# Stops the bot started under `buildah run` (BOT_PID) with SIGTERM to the bot itself: buildah,
# signalled, SIGKILLs its child and leaves the bot running, orphaned. Bounded: 15 s, then
# SIGKILL to all of them. Returns 1 when it had to kill.
stop_bot() {
  local pids=() n
  readarray -t pids < <(leaves_under "$BOT_PID")
  ((${#pids[@]} == 0)) || kill -TERM "${pids[@]}" 2>/dev/null || true
  for n in $(seq 30); do
    kill -0 "$BOT_PID" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$BOT_PID" 2>/dev/null; then
    readarray -t pids < <(leaves_under "$BOT_PID")
    kill -KILL "${pids[@]}" "$BOT_PID" 2>/dev/null || true
    wait "$BOT_PID" 2>/dev/null || true
    BOT_PID=""
    return 1
  fi
  wait "$BOT_PID" 2>/dev/null || true
  BOT_PID=""
}

image_size() {
  podman image inspect --format '{{.Size}}' "$IMAGE" 2>/dev/null \
    | awk '{ printf "%.0f MB", $1 / 1000000 }' || true
}

# --- 1. tools
tools() {
  [[ $(id -u) -eq 0 ]] || { say "run as root (apt-get, mmdebstrap and buildah need it)"; return 1; }
  local missing=()
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v buildah >/dev/null || missing+=(buildah)
  command -v podman >/dev/null || missing+=(podman)
  command -v newuidmap >/dev/null || missing+=(uidmap)
  command -v python3 >/dev/null || missing+=(python3)
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt-get (an unattended upgrade, a neighbour's install) may hold dpkg's lock:
    # wait for it, up to 5 minutes, rather than fail at once.
    local lock=(-o DPkg::Lock::Timeout=300)
    timeout 600 apt-get "${lock[@]}" update -qq >"$WORK/apt.log" 2>&1 \
      || { tail -20 "$WORK/apt.log" >&2; return 1; }
    timeout 900 apt-get "${lock[@]}" install -y -qq "${missing[@]}" >>"$WORK/apt.log" 2>&1 \
      || { tail -20 "$WORK/apt.log" >&2; return 1; }
  fi
  say "$(buildah --version); $(podman --version); mmdebstrap $(mmdebstrap --version | awk '{print $2}')"
}

# --- 2. the base's root filesystem
rootfs() {
  if [[ -f $ROOTFS && -s $ROOTFS ]]; then
    say "cached: $ROOTFS"
    return 0
  fi
  mkdir -p "$CACHE"
  local sources=${LEADERBOT_DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources} mirror=()
  if [[ -f $sources ]] && grep -qw "$SUITE" "$sources"; then
    mirror=("$sources")
    say "apt sources: $sources"
  fi
  # </dev/null: mmdebstrap reads sources from a stdin that is not a terminal.
  # The target's extension picks the format: keep .tar on the partial file.
  PART=${ROOTFS%.tar}.part.tar
  rm -rf "$PART"
  timeout 900 mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$PART" "${mirror[@]}" </dev/null >"$WORK/mmdebstrap.log" 2>&1 \
    || { tail -20 "$WORK/mmdebstrap.log" >&2; return 1; }
  mv "$PART" "$ROOTFS"
  PART=""
}

# --- 3. the base image
import() {
  local stamp
  stamp=$(stat -c %Y "$ROOTFS")
  if podman image exists "$BASE_IMAGE" \
    && [[ $(podman image inspect --format '{{index .Labels "rootfs-mtime"}}' "$BASE_IMAGE") == "$stamp" ]]; then
    say "already imported: $BASE_IMAGE"
    return 0
  fi
  timeout 600 podman import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change "LABEL rootfs-mtime=$stamp" \
    --change 'CMD ["/bin/bash"]' \
    "$ROOTFS" "$BASE_IMAGE" >/dev/null
}

# pip's settings for the build, from the host's pip (`pip config list`: key='value' lines;
# the environment (:env:) wins over the files' install and global sections). Only what makes
# sense inside the build is passed: http(s) index URLs, trusted hosts, and a CA bundle that the
# build sees because /etc/ssl/certs is mounted into it.
pip_build_args() {
  python3 -m pip config list 2>/dev/null | python3 -c '
import ast, sys
conf = {}
for line in sys.stdin:
    key, sep, value = line.rstrip("\n").partition("=")
    if not sep:
        continue
    section, _, name = key.rpartition(".")
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        continue
    rank = {"global": 0, "install": 1, ":env:": 2}.get(section)
    if rank is not None and rank >= conf.get(name, (-1, ""))[0]:
        conf[name] = (rank, value)
get = lambda name: conf.get(name, (0, ""))[1]
web = lambda value: " ".join(u for u in value.split() if u.startswith(("http://", "https://")))
args = {
    "PIP_INDEX_URL": web(get("index-url")),
    "PIP_EXTRA_INDEX_URL": web(get("extra-index-url")),
    "PIP_TRUSTED_HOST": " ".join(get("trusted-host").split()),
    "PIP_CERT": get("cert") if get("cert").startswith("/etc/ssl/certs/") else "",
    "PIP_DEFAULT_TIMEOUT": get("timeout") or get("default-timeout"),
}
for name, value in args.items():
    if value:
        print(f"{name}={value}")
'
}

# --- 4. the image
build() {
  local args=() line old new
  old=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  while IFS= read -r line; do
    args+=(--build-arg "$line")
    say "build arg: ${line%%=*}"
  done < <(pip_build_args)
  timeout 900 buildah build --isolation chroot --network host --layers --force-rm --format docker \
    -v /etc/ssl/certs:/etc/ssl/certs:ro \
    --build-arg "BASE=$BASE_IMAGE" "${args[@]}" \
    -f Dockerfile -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
    || { tail -40 "$WORK/build.log" >&2; return 1; }
  grep -E '^(STEP|COMMIT|Successfully)|Using cache' "$WORK/build.log" | cut -c1-120 >&2 || true
  # The image this one replaces, untagged now: its last layer (the venv, ~185 MB) would pile up
  # run after run. The build stage's cached layers stay (they are what makes a rebuild quick).
  new=$(podman image inspect --format '{{.Id}}' "$IMAGE")
  if [[ -n $old && $old != "$new" ]]; then
    timeout 120 podman rmi "$old" >/dev/null 2>&1 || say "could not remove the previous image ${old:0:12}"
  fi
  say "image size: $(image_size)"
}

# Images that older or failed builds left unnamed, found by the stage labels in the Dockerfile:
# every unnamed final-stage image (the tagged one is the image; the others are what a new build
# replaced or a failed build left half-made), and every unnamed build stage but the newest,
# which holds the layer cache of the next build (their shared layers, the dependencies, stay
# while it uses them).
remove_stale_images() {
  local ids=() old=() id
  command -v podman >/dev/null || return 0
  readarray -t old < <(podman images --filter label=org.leaderbot.stage=image \
    --filter dangling=true --format '{{.ID}}' 2>/dev/null)
  # --sort created lists the newest first.
  readarray -t ids < <(podman images --filter label=org.leaderbot.stage=build \
    --filter dangling=true --sort created --format '{{.ID}}' 2>/dev/null)
  ((${#ids[@]} <= 1)) || old+=("${ids[@]:1}")
  for id in "${old[@]}"; do
    timeout 120 podman rmi "$id" >/dev/null 2>&1 || say "could not remove stale image $id"
  done
  ((${#old[@]} == 0)) || say "removed ${#old[@]} stale image(s) of older or failed builds"
}

# buildah run in the working container, bounded.
in_ctr() {
  local seconds=$1
  shift
  timeout "$seconds" buildah run --isolation chroot --network host "$CTR" -- "$@"
}

# --- 5. checks
checks() {
  local entrypoint=() cmd=() health=() user out uid n port
  remove_stale_containers
  CTR=$(timeout 120 buildah from --pull-never --name "leaderbot-check-$$" "$IMAGE")
  readarray -t entrypoint < <(buildah inspect --format '{{range .Docker.Config.Entrypoint}}{{println .}}{{end}}' "$CTR")
  readarray -t cmd < <(buildah inspect --format '{{range .Docker.Config.Cmd}}{{println .}}{{end}}' "$CTR")
  readarray -t health < <(buildah inspect --format '{{if .Docker.Config.Healthcheck}}{{range .Docker.Config.Healthcheck.Test}}{{println .}}{{end}}{{end}}' "$CTR")
  user=$(buildah inspect --format '{{.Docker.Config.User}}' "$CTR")
  say "entrypoint: ${entrypoint[*]}; cmd: ${cmd[*]}; user: $user; healthcheck: ${health[0]:-none}"
  [[ ${#entrypoint[@]} -gt 0 ]] || { say "the image has no ENTRYPOINT"; return 1; }
  [[ ${health[0]:-} == CMD ]] || { say "the image has no HEALTHCHECK (build with --format docker)"; return 1; }

  # The image's user, as the image runs it.
  uid=$(in_ctr 60 id -u)
  say "id -u: $uid ($(in_ctr 60 id -un))"
  [[ $uid =~ ^[0-9]+$ && $uid -ne 0 ]] || { say "the image runs as root"; return 1; }

  # The question set.
  out=$(in_ctr 120 "${entrypoint[@]}" questions) || { printf '%s\n' "$out" >&2; return 1; }
  for n in 1 2 3 4 5 6 7 8 9 10; do
    grep -qw "Q$n" <<<"$out" || { printf '%s\n' "$out" >&2; say "questions: no Q$n"; return 1; }
  done
  say "leaderbot questions: Q1-Q10 listed ($(wc -l <<<"$out") lines)"

  # The bot: Slack in HTTP mode with dummy credentials and an API URL where nothing listens
  # (the bot starts, serves /healthz; any Slack call fails harmlessly), SQLite in the data dir.
  # `timeout` inside the container bounds it even if a signal is lost on the way.
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  timeout 180 buildah run --isolation chroot --network host \
    -e SLACK_BOT_TOKEN=xoxb-container-check -e SLACK_SIGNING_SECRET=container-check \
    -e SLACK_API_URL=http://127.0.0.1:9/ \
    -e LEADERBOT_HOST=127.0.0.1 -e "LEADERBOT_PORT=$port" \
    -e DATABASE_URL=sqlite+aiosqlite:////var/lib/leaderbot/leaderbot.db \
    "$CTR" -- timeout 150 "${entrypoint[@]}" "${cmd[@]}" >"$WORK/run.log" 2>&1 &
  BOT_PID=$!
  say "leaderbot ${cmd[*]} (pid $BOT_PID), polling http://127.0.0.1:$port/healthz for up to 90 s"
  if ! python3 - "$port" "$BOT_PID" <<'EOF' >&2; then
import json, os, sys, time, urllib.error, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline, last = time.monotonic() + 90, "no answer"
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"the bot exited before /healthz answered ({last})")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as r:
            body = json.load(r)
            print(f"GET /healthz: {r.status} {json.dumps(body)}")
            sys.exit(0 if r.status == 200 and body.get("ok") is True else 1)
    except urllib.error.HTTPError as e:
        last = f"{e.code} {e.read()[:300]!r}"
    except OSError as e:
        last = str(e)
    time.sleep(0.5)
sys.exit(f"/healthz did not answer 200 within 90 s: {last}")
EOF
    sed 's/^/  run: /' "$WORK/run.log" >&2
    return 1
  fi
  # The image's own HEALTHCHECK command, run in the container against the running bot.
  if ! in_ctr 30 env "LEADERBOT_PORT=$port" "${health[@]:1}"; then
    say "the image's HEALTHCHECK command failed"
    sed 's/^/  run: /' "$WORK/run.log" >&2
    return 1
  fi
  say "the image's HEALTHCHECK command: passed"
  if ! stop_bot; then
    sed 's/^/  run: /' "$WORK/run.log" >&2
    say "the bot did not stop within 15 s of SIGTERM"
    return 1
  fi
  sed 's/^/  run: /' "$WORK/run.log" | head -20 >&2
  say "the bot stopped on SIGTERM"
  # `leaderbot run` migrated its database at start: the schema's version is recorded.
  out=$(in_ctr 60 python3 -c 'import sqlite3; print(sqlite3.connect("/var/lib/leaderbot/leaderbot.db").execute("select version_num from alembic_version").fetchone()[0])')
  say "migrated at start: /var/lib/leaderbot/leaderbot.db at schema version $out"
}

step tools tools
step rootfs rootfs
step import import
step build build
step checks checks
