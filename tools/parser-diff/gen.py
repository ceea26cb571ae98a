#!/usr/bin/env python3
import random, sys, os
# Generates random Dockerfile-like texts (casing, flags, JSON forms,
# continuations, heredocs, directives, BOM, CRLF) for tools/parser-diff/compare.
# Usage: gen.py COUNT [SEED]; files go to $OUT (default /tmp/pf/cases).
R = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
N = int(sys.argv[1])
out = os.environ.get("OUT", "/tmp/pf/cases"); os.makedirs(out, exist_ok=True)
words = ["foo", "bar", "$X", "${Y:-z}", "'q q'", '"d q"', "a=b", "c=\"d e\"", "\\$x", "--flag", "--from=x", "-x",
         "[", "]", '"', "'", "\\", "`", "#", "# c", "&&", "||", ";", "{", "}", "=", "==", "a\\ b", "ü", "\t", " ", "",
         '["a", "b"]', '["a"]', "[ ]", '["a",]', "[\"a\" \"b\"]", "<<EOF", "<<-EOF", '<<"EOF"', "<<'E O'", "<<E1", "0", "80/tcp"]
cmds = ["FROM", "RUN", "CMD", "ENTRYPOINT", "ENV", "LABEL", "ARG", "COPY", "ADD", "WORKDIR", "USER", "EXPOSE", "VOLUME",
        "SHELL", "HEALTHCHECK", "ONBUILD", "STOPSIGNAL", "MAINTAINER", "from", "Run", "copy", "UNKNOWN", "env", "healthcheck", "onbuild"]
def case(s):
    r = R.random()
    return s.upper() if r < .6 else s.lower() if r < .8 else "".join(c.upper() if R.random() < .5 else c.lower() for c in s)
def word():
    return R.choice(words)
def args(n=None):
    n = R.randint(0, 5) if n is None else n
    return " ".join(word() for _ in range(n))
def line():
    c = case(R.choice(cmds))
    r = R.random()
    if c.upper() == "HEALTHCHECK":
        return f"{c} " + R.choice(["NONE", "CMD " + args(), "--interval=5s CMD " + args(), "CMD [\"a\"]", "", "none x", "--x CMD"])
    if c.upper() == "ONBUILD":
        return f"{c} " + R.choice([line(), "ONBUILD RUN x", "FROM x", "MAINTAINER x", "", args()])
    if c.upper() in ("ENV", "LABEL"):
        kv = R.choice(["a=b", "a b", "a=\"b c\" d=e", "a", "a=", "=b", "a=b c", "\"a b\"=c", "a\\ b=c", "a='x y'", "a b c", "a=b\\\n c=d"])
        return f"{c} {kv}"
    if c.upper() in ("ARG",):
        return f"{c} " + R.choice(["A", "A=1", "A=1 B", "A B=2", "", "A=\"x y\"", "=x"])
    flags = " ".join(R.choice(["--chown=1", "--from=a", "--mount=type=cache,target=/x", "--link", "--network=none", "--x", "-x", "--"]) for _ in range(R.randint(0, 2)))
    sp = R.choice([" ", "  ", "\t", " \t "])
    return f"{c}{sp}{flags}{' ' if flags else ''}{args()}"
def heredoc_body():
    return "".join(R.choice(["echo hi\n", "\tindented\n", "  sp\n", "\n", "EOF x\n", "$X\n", "\\\n"]) for _ in range(R.randint(0, 3)))
def gen():
    lines = []
    if R.random() < .3:
        lines.append(R.choice(["# escape=`", "# escape=\\", "#escape=`", "# syntax=docker/dockerfile:1", "# check=skip=all", "# ESCAPE = `", "# escape=x", "# directive=x", "#", "# escape=`\n# escape=`"]))
    if R.random() < .1:
        lines.insert(0, "\ufeff" + (lines.pop() if lines else "# comment"))
    for _ in range(R.randint(1, 8)):
        r = R.random()
        if r < .1: lines.append(R.choice(["", "   ", "# comment", "  # indented comment", "\t"]))
        elif r < .25:
            l = line()
            esc = R.choice(["\\", "`"])
            parts = [l]
            for _ in range(R.randint(1, 3)):
                parts.append(R.choice(["", "  ", "# c in cont", args(2), " " + args(1), "\\"]))
            lines.append((esc + "\n").join(parts) + R.choice(["", esc, esc + " "]))
        elif r < .35:
            tag = R.choice(["EOF", "E1", "END"])
            l = case(R.choice(["RUN", "COPY", "ADD", "RUN"])) + " " + R.choice(["<<", "<<-"]) + R.choice([tag, '"' + tag + '"', "'" + tag + "'"]) + " " + args(R.randint(0, 2))
            body = heredoc_body()
            lines.append(l + "\n" + body + R.choice(["", "\t", "  "]) * (R.random() < .3) + tag * (R.random() < .9))
        else:
            lines.append(line())
    text = "\n".join(lines) + R.choice(["\n", "", "\n\n", " \\\n", "\\"])
    if R.random() < .1: text = text.replace("\n", "\r\n")
    return text
for i in range(N):
    with open(f"{out}/{i:05d}", "w", encoding="utf-8", newline="") as f: f.write(gen())
