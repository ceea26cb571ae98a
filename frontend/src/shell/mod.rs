//! Shell-word expansion with the reference's rules (BuildKit `shell.Lex`).
