#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and runs the main job:
# a 3-node Cohort cluster on this machine on one image file, mounted at three
# directories; a file written on node 1 is read on node 2 and listed on node 3.
#
#   scripts/demo.sh            (leaves the cluster running; stop it with
#                               scripts/local-cluster down --dir /tmp/cohort-demo)
#   COHORT_DEMO_DIR=DIR scripts/demo.sh    use another directory
#   scripts/demo.sh --down     stop the demo cluster after showing it
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
DIR=${COHORT_DEMO_DIR:-/tmp/cohort-demo}
DOWN=0
[[ "${1:-}" == "--down" ]] && DOWN=1

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '  $ %s\n' "$*"; eval "$@" | sed 's/^/    /'; }

say "installing dependencies (Debian packages, skipped when present)"
scripts/install-deps.sh

say "building (cmake --preset debug; programs in build/bin)"
cmake --preset debug >/dev/null
cmake --build --preset debug -j "$JOBS" | tail -n 1

if [[ -d "$DIR" ]]; then scripts/local-cluster down --dir "$DIR" >/dev/null 2>&1 || true; fi

say "starting a 3-node cluster on one image file (scripts/local-cluster up)"
scripts/local-cluster up --nodes 3 --dir "$DIR"

say "a file written on node 1 ..."
show "echo 'hello from node 1' > $DIR/node1/greeting"
show "mkdir -p $DIR/node1/projects && cp README.md $DIR/node1/projects/"

say "... is read on node 2 ..."
show "cat $DIR/node2/greeting"
show "cmp README.md $DIR/node2/projects/README.md && echo 'README.md identical on node 2'"

say "... and listed on node 3; node 3 appends, node 1 sees it"
show "ls -l $DIR/node3 $DIR/node3/projects"
show "echo 'and hello back from node 3' >> $DIR/node3/greeting"
show "cat $DIR/node1/greeting"

say "cluster status"
scripts/local-cluster status --dir "$DIR"

if [[ $DOWN == 1 ]]; then
  say "stopping the cluster"
  scripts/local-cluster down --dir "$DIR"
else
  echo
  echo "The cluster is still mounted at $DIR/node1..3. Stop it with:"
  echo "  scripts/local-cluster down --dir $DIR"
fi
