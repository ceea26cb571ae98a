#!/usr/bin/env bash
# Fills corpus/{parse,lower,expand} with seeds from the shared BuildKit
# vectors (not committed: corpus/ is git-ignored). Usage: ./seeds.sh [VECTORS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vectors=${1:-$here/../../../shared/vectors/buildkit}
[ -d "$vectors" ] || vectors=/work/shared/vectors/buildkit
[ -d "$vectors" ] || { echo "no vectors at $vectors" >&2; exit 1; }

mkdir -p "$here/corpus/parse" "$here/corpus/lower" "$here/corpus/expand"

# Dockerfiles: parser vectors, positive and negative.
for f in "$vectors"/parser/*/Dockerfile "$vectors"/parser-negative/*/Dockerfile; do
    [ -f "$f" ] || continue
    name=$(basename "$(dirname "$f")")
    cp "$f" "$here/corpus/parse/$name"
    cp "$f" "$here/corpus/lower/$name"
done

# A few hand-written lowering seeds: stages, mounts, heredocs, flags.
printf '%s\n' \
    'ARG BASE=alpine:3.19' 'FROM ${BASE} AS build' 'ARG V=1' 'ENV A=${V:-x} B="$A b"' \
    'WORKDIR /src' 'COPY --chown=1:1 --chmod=644 a* ./' \
    'RUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=build,target=/b make' \
    'RUN <<EOT bash' 'echo $A' 'EOT' 'FROM scratch' 'COPY --from=build /src/out /out' \
    'ONBUILD RUN echo hi' 'HEALTHCHECK --interval=5s CMD ["true"]' 'EXPOSE 80/tcp 53/udp' \
    'LABEL a=b "c d"=e' 'USER 1000:1000' 'ENTRYPOINT ["/out"]' \
    > "$here/corpus/lower/multistage"
cp "$here/corpus/lower/multistage" "$here/corpus/parse/multistage"
printf '# escape=`\nFROM windows\nRUN dir `\n  c:\\\n' > "$here/corpus/lower/escape-backtick"

# Shell words: the first column of the shell vectors, with an env that
# defines the variables the vectors use (word \0 K=V \0 K=V ...).
i=0
while IFS= read -r line; do
    case "$line" in ''|'#'*|ENV*) continue ;; esac
    word=${line#?|}               # envVarTest: "A|word | result"
    [ "$word" = "$line" ] || line=$word
    word=$(printf '%s' "$line" | sed -E 's/[[:space:]]*\|[^|]*$//')
    i=$((i + 1))
    printf '%s\0PWD=/home\0space=abc  def\0hi=hi\0leading=  ab c' "$word" \
        > "$here/corpus/expand/v$i"
done < <(cat "$vectors"/shell/envVarTest "$vectors"/shell/wordsTest)
printf '${VAR:-default}/path\0VAR=x' > "$here/corpus/expand/default"
printf '${VAR#*/}${VAR%%.*}${VAR/a/b}${#VAR}\0VAR=a/b.c' > "$here/corpus/expand/patterns"
echo "seeds: $(ls "$here/corpus/parse" | wc -l) parse, $(ls "$here/corpus/lower" | wc -l) lower, $(ls "$here/corpus/expand" | wc -l) expand"
