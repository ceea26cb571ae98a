//! `--chmod` in symbolic form (`u+x,g-w,o=r`, `a+X`, `go=u-w`), with the
//! semantics of BSD `setmode(3)` as BuildKit applies it (through
//! `dchapes-mode` with a zero umask): applied to each copied entry's own
//! mode. A string starting with a digit is an absolute octal mode.

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;
const RWXU: u32 = 0o700;
const RWXG: u32 = 0o070;
const RWXO: u32 = 0o007;
const R_ALL: u32 = 0o444;
const W_ALL: u32 = 0o222;
const X_ALL: u32 = 0o111;
const STANDARD: u32 = S_ISUID | S_ISGID | RWXU | RWXG | RWXO;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    /// Set the bits if the entry is a directory or already executable.
    AddX,
    /// Copy (`=`, `+` or `-`) the permission triplet of u, g or o into the
    /// selected classes.
    Copy {
        from: u8,
        set: bool,
        clear: bool,
        to_u: bool,
        to_g: bool,
        to_o: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cmd {
    op: Op,
    bits: u32,
}

/// A parsed symbolic (or octal) mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModeSet {
    cmds: Vec<Cmd>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ModeSyntax;

impl ModeSet {
    pub(crate) fn parse(s: &str) -> Result<ModeSet, ModeSyntax> {
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(ModeSyntax);
        }
        let mut set = ModeSet { cmds: Vec::new() };
        if b[0].is_ascii_digit() {
            let v = u32::from_str_radix(s, 8).map_err(|_| ModeSyntax)?;
            if v & !(STANDARD | S_ISVTX) != 0 {
                return Err(ModeSyntax);
            }
            set.add('=', STANDARD | S_ISVTX, v);
            return Ok(set);
        }
        let mut i = 0;
        loop {
            // Who.
            let mut who = 0u32;
            loop {
                match b.get(i) {
                    None => return Err(ModeSyntax),
                    Some(b'a') => who |= STANDARD,
                    Some(b'u') => who |= S_ISUID | RWXU,
                    Some(b'g') => who |= S_ISGID | RWXG,
                    Some(b'o') => who |= RWXO,
                    Some(_) => break,
                }
                i += 1;
            }
            // One or more operations, each with its permissions.
            loop {
                let op = match b.get(i) {
                    Some(&c @ (b'+' | b'-' | b'=')) => c as char,
                    _ => return Err(ModeSyntax),
                };
                i += 1;
                let mut eq_done = false;
                who &= !S_ISVTX;
                let mut perm = 0u32;
                let mut perm_x = 0u32;
                loop {
                    match b.get(i).copied() {
                        Some(b'r') => perm |= R_ALL,
                        Some(b's') => {
                            if who == 0 || who & !RWXO != 0 {
                                perm |= S_ISUID | S_ISGID;
                            }
                        }
                        Some(b't') => {
                            if who == 0 || who & !RWXO != 0 {
                                who |= S_ISVTX;
                                perm |= S_ISVTX;
                            }
                        }
                        Some(b'w') => perm |= W_ALL,
                        Some(b'X') => {
                            if op == '+' {
                                perm_x = X_ALL;
                            }
                        }
                        Some(b'x') => perm |= X_ALL,
                        Some(c @ (b'u' | b'g' | b'o')) => {
                            if perm != 0 {
                                set.add_who(op, who, perm);
                                perm = 0;
                            }
                            if op == '=' {
                                eq_done = true;
                            }
                            if perm_x != 0 {
                                set.add_who('X', who, perm_x);
                                perm_x = 0;
                            }
                            set.add_copy(c, who, op);
                        }
                        _ => {
                            if perm != 0 || (op == '=' && !eq_done) {
                                set.add_who(op, who, perm);
                            }
                            if perm_x != 0 {
                                set.add_who('X', who, perm_x);
                            }
                            break;
                        }
                    }
                    i += 1;
                }
                match b.get(i) {
                    None => {
                        set.compress();
                        return Ok(set);
                    }
                    Some(b',') => {
                        i += 1;
                        break;
                    }
                    // Another operation for the same classes.
                    Some(_) => continue,
                }
            }
        }
    }

    /// `addcmd` for `+`, `-`, `=` and `X` (the umask is zero, so "no
    /// classes" means all bits).
    fn add_who(&mut self, op: char, who: u32, perm: u32) {
        self.add(op, who, perm);
    }

    fn add(&mut self, op: char, who: u32, oparg: u32) {
        let sel = |who: u32| if who != 0 { who & oparg } else { oparg };
        match op {
            '=' => {
                let clear = if who != 0 { who } else { STANDARD };
                self.cmds.push(Cmd {
                    op: Op::Remove,
                    bits: clear,
                });
                self.cmds.push(Cmd {
                    op: Op::Add,
                    bits: sel(who),
                });
            }
            '+' => self.cmds.push(Cmd {
                op: Op::Add,
                bits: sel(who),
            }),
            '-' => self.cmds.push(Cmd {
                op: Op::Remove,
                bits: sel(who),
            }),
            'X' => self.cmds.push(Cmd {
                op: Op::AddX,
                bits: sel(who),
            }),
            _ => unreachable!("mode op"),
        }
    }

    fn add_copy(&mut self, from: u8, who: u32, op: char) {
        let (to_u, to_g, to_o, bits) = if who != 0 {
            (
                who & 0o400 != 0,
                who & 0o040 != 0,
                who & 0o004 != 0,
                u32::MAX,
            )
        } else {
            (true, true, true, u32::MAX)
        };
        let (set, clear) = match op {
            '+' => (true, false),
            '-' => (false, true),
            _ => (true, true),
        };
        self.cmds.push(Cmd {
            op: Op::Copy {
                from,
                set,
                clear,
                to_u,
                to_g,
                to_o,
            },
            bits,
        });
    }

    /// Merge runs of `+`, `-` and `X` into at most one of each, in that
    /// order (setmode's `compress_mode`); copies stay in place.
    fn compress(&mut self) {
        let mut out = Vec::with_capacity(self.cmds.len());
        let mut i = 0;
        while i < self.cmds.len() {
            if matches!(self.cmds[i].op, Op::Copy { .. }) {
                out.push(self.cmds[i]);
                i += 1;
                continue;
            }
            let (mut set, mut clr, mut x) = (0u32, 0u32, 0u32);
            while i < self.cmds.len() {
                let c = self.cmds[i];
                match c.op {
                    Op::Remove => {
                        clr |= c.bits;
                        set &= !c.bits;
                        x &= !c.bits;
                    }
                    Op::Add => {
                        set |= c.bits;
                        clr &= !c.bits;
                        x &= !c.bits;
                    }
                    Op::AddX => x |= c.bits & !set,
                    Op::Copy { .. } => break,
                }
                i += 1;
            }
            if clr != 0 {
                out.push(Cmd {
                    op: Op::Remove,
                    bits: clr,
                });
            }
            if set != 0 {
                out.push(Cmd {
                    op: Op::Add,
                    bits: set,
                });
            }
            if x != 0 {
                out.push(Cmd {
                    op: Op::AddX,
                    bits: x,
                });
            }
        }
        self.cmds = out;
    }

    /// The new permission bits (07777) of an entry with mode `mode`
    /// (permission bits plus setuid/setgid/sticky) that is a directory or
    /// not.
    pub(crate) fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let old = mode & 0o7777;
        let mut new = old;
        for c in &self.cmds {
            match c.op {
                Op::Add => new |= c.bits,
                Op::Remove => new &= !c.bits,
                Op::AddX => {
                    if old & X_ALL != 0 || is_dir {
                        new |= c.bits;
                    }
                }
                Op::Copy {
                    from,
                    set,
                    clear,
                    to_u,
                    to_g,
                    to_o,
                } => {
                    let value = match from {
                        b'u' => (new & RWXU) >> 6,
                        b'g' => (new & RWXG) >> 3,
                        _ => new & RWXO,
                    };
                    if clear {
                        let clr = if set { RWXO } else { value };
                        if to_u {
                            new &= !((clr << 6) & c.bits);
                        }
                        if to_g {
                            new &= !((clr << 3) & c.bits);
                        }
                        if to_o {
                            new &= !(clr & c.bits);
                        }
                    }
                    if set {
                        if to_u {
                            new |= (value << 6) & c.bits;
                        }
                        if to_g {
                            new |= (value << 3) & c.bits;
                        }
                        if to_o {
                            new |= value & c.bits;
                        }
                    }
                }
            }
        }
        new & 0o7777
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(s: &str, mode: u32, dir: bool) -> u32 {
        ModeSet::parse(s)
            .unwrap_or_else(|_| panic!("parse {s}"))
            .apply(mode, dir)
    }

    #[test]
    fn fileop_chmod_symbolic() {
        assert_eq!(ap("u+x", 0o644, false), 0o744);
        assert_eq!(ap("g-w", 0o664, false), 0o644);
        assert_eq!(ap("o=r", 0o777, false), 0o774);
        assert_eq!(ap("u+x,g-w,o=r", 0o666, false), 0o744);
        assert_eq!(ap("a+X", 0o644, false), 0o644);
        assert_eq!(ap("a+X", 0o744, false), 0o755);
        assert_eq!(ap("a+X", 0o600, true), 0o711);
        assert_eq!(ap("+x", 0o600, false), 0o711);
        assert_eq!(ap("=rw,+X", 0o755, false), 0o777 & 0o666 | 0o111);
        assert_eq!(ap("go=", 0o777, false), 0o700);
        assert_eq!(ap("go=u-w", 0o755, false), 0o755);
        assert_eq!(ap("go=u-w", 0o700, false), 0o750 | 0o005);
        assert_eq!(ap("u=rwx,go=rx", 0o000, false), 0o755);
        assert_eq!(ap("u+s", 0o755, false), 0o4755);
        assert_eq!(ap("g+s", 0o755, true), 0o2755);
        assert_eq!(ap("+t", 0o777, true), 0o1777);
        assert_eq!(ap("o+t", 0o777, true), 0o777);
        assert_eq!(ap("a-x", 0o4755, false), 0o4644);
        assert_eq!(ap("u=g", 0o640, false), 0o440);
        assert_eq!(ap("755", 0o4600, false), 0o755);
        assert_eq!(ap("a=", 0o4777, false), 0);
        assert_eq!(ap("u-w+x", 0o600, false), 0o500);
    }

    #[test]
    fn fileop_chmod_syntax_errors() {
        for bad in ["", "u", "u+z", "x+r", "u+r,", "99", "17777", "+rw,,"] {
            assert_eq!(ModeSet::parse(bad), Err(ModeSyntax), "{bad:?}");
        }
    }
}
