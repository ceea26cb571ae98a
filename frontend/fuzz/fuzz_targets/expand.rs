//! Shell-word expansion (`Lex::process_word` / `process_words`).
//!
//! Input layout: `word \0 KEY=VALUE \0 KEY=VALUE ...` (at most 4 env
//! entries, an entry without `=` gets an empty value). The word is
//! expanded with every combination of the four `Lex` option bits, with
//! both escape characters (`\` and `` ` ``), against the env as a
//! `BTreeMap` and as a `Vec` (first and last duplicates differ).
//! Errors are fine; a panic, hang or overflow is a bug.
#![no_main]

use std::collections::BTreeMap;

use kiln_frontend::shell::Lex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let word = parts.next().unwrap_or("");
    let pairs: Vec<(String, String)> = parts
        .take(4)
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (entry.to_string(), String::new()),
        })
        .collect();
    let map: BTreeMap<String, String> = pairs.iter().cloned().collect();

    for escape in ['\\', '`'] {
        for bits in 0u8..16 {
            let mut lex = Lex::new(escape);
            lex.raw_quotes = bits & 1 != 0;
            lex.raw_escapes = bits & 2 != 0;
            lex.skip_process_quotes = bits & 4 != 0;
            lex.skip_unset_env = bits & 8 != 0;
            let by_map = lex.process_word(word, &map);
            let _ = lex.process_word(word, &pairs);
            let words = lex.process_words(word, &map);
            // process_words is process_word(..).words.
            match (by_map, words) {
                (Ok(e), Ok(w)) => assert_eq!(e.words, w),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("process_word {a:?} vs process_words {b:?}"),
            }
        }
    }
});
