#!/bin/sh
# A CI job with kiln: plain progress in the log, the image ID and build
# metadata as artifacts, a docker-loadable archive, the exit code of the
# build as the job's (1: the build failed, 2: a bad flag).
#
#   examples/ci/build.sh [CONTEXT] [IMAGE]      (defaults: examples/hello ci/hello:$CI_COMMIT)
#
# Environment: KILN (the binary, default kiln), OUT (artifact directory,
# default ./out), KILN_ROOT (the store: keep it on a cache volume so
# rebuilds hit the cache), CI (set by CI systems: plain progress).
set -eu
CONTEXT=${1:-examples/hello}
IMAGE=${2:-ci/hello:${CI_COMMIT_SHORT_SHA:-${GITHUB_SHA:-dev}}}
KILN=${KILN:-kiln}
OUT=${OUT:-out}
mkdir -p "$OUT"

"$KILN" version
"$KILN" build \
    --progress=plain \
    --tag "$IMAGE" \
    --label "org.opencontainers.image.revision=${GITHUB_SHA:-unknown}" \
    --iidfile "$OUT/image-id" \
    --metadata-file "$OUT/metadata.json" \
    --output "type=docker,dest=$OUT/image.tar" \
    "$CONTEXT"
# With a registry (see README): add
#   --cache-from type=registry,ref=$REGISTRY/cache --cache-to type=registry,ref=$REGISTRY/cache,mode=max --push
echo "built $IMAGE: $(cat "$OUT/image-id")"
