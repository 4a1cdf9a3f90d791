#!/bin/bash
# Grade a class on a Slurm cluster: N array tasks, then one merge job once all succeeded.
#   launchers/slurm/submit.sh SUBMISSIONS OUT N [grade options...]
# OUT must be on a file system every node sees. Prints the two job ids; OUT/class is the result.
set -euo pipefail
SUBMISSIONS=$(realpath "$1") OUT=$(realpath -m "$2") N=$3
shift 3
mkdir -p "$OUT"
here=$(cd "$(dirname "$0")/../.." && pwd)
array=$(SUBMISSIONS=$SUBMISSIONS OUT=$OUT GRADE_ARGS="$*" REGLAB=$here \
    sbatch --parsable --array=0-$((N - 1)) --chdir="$OUT" --export=ALL "$here/launchers/slurm/grade_array.sbatch")
q=$(printf %q "$OUT")
merge=$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=yes --chdir="$here" --job-name=reglab-merge \
    --output="$OUT/reglab-merge-%j.out" --wrap="python3 -m grader merge $q/shard-* --out $q/class")
echo "array job $array ($N tasks), merge job $merge → $OUT/class"
