#!/usr/bin/env bash
# The installed console script as a user meets it: from an empty folder, with MLFLOW_TRACKING_URI naming the
# project's store, predict scores a review (a table, JSON, standard input) and the folder stays empty.
# Usage: .ci/check_console.sh PATH/TO/imdb-sentiment PATH/TO/mlflow.db
set -euo pipefail
command=$1
export MLFLOW_TRACKING_URI="sqlite:///$2"
folder=$(mktemp -d)
cd "$folder"
"$command" --help | grep -q "predict "
"$command" predict "A wonderful, moving film" 2>err.out | tee table.out \
  | grep -qP '^1\t0\.\d{4}\t(positive|negative)\t\d+%\t'
if [ -s err.out ]; then echo "predict printed to stderr on an ordinary review:"; cat err.out; exit 1; fi
"$command" predict --json "Great film" | tee json.out \
  | python3 -c 'import json, sys; r = json.load(sys.stdin)["reviews"][0]; assert 0 <= r["probability"] <= 1, r'
printf 'An awful film\n\nA wonderful film\n' | "$command" predict --file - | tee stdin.out | grep -c "^[13]\s" \
  | grep -qx 2
rm table.out err.out json.out stdin.out
if [ -n "$(ls -A)" ]; then echo "imdb-sentiment left files behind in $folder:"; ls -A; exit 1; fi
if "$command" train 2>err.out; then echo "train ran outside a project"; exit 1; fi
grep -q "runs in the project's folder" err.out && rm err.out
echo "console script: predict from $folder (table, --json, --file -) left nothing behind; train refused there"
rmdir "$folder"
