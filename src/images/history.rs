//! `kiln history`: the image's history entries, newest first, like
//! `docker history`.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::list::Format;
use super::units::{ago, human_size, now, parse_rfc3339};
use super::{open_store, print_table, short_id, Catalog};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The image (name, name:tag, or image id).
    pub image: String,
    /// Print sizes and dates in human readable format.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

struct Entry {
    id: String,
    created: Option<i64>,
    created_by: String,
    size: u64,
    comment: String,
}

pub fn run(args: &HistoryArgs) -> Result<i32> {
    let store = open_store()?;
    let catalog = Catalog::load(&store, true)?;
    let image = catalog.find(&args.image)?;
    let sizes = image.layer_sizes(&store);
    let mut layers = sizes.iter();
    let mut entries: Vec<Entry> = image
        .config
        .history
        .iter()
        .map(|h| Entry {
            id: "<missing>".into(),
            created: h.created.as_deref().and_then(parse_rfc3339),
            created_by: h.created_by.clone(),
            size: if h.empty_layer {
                0
            } else {
                layers.next().copied().unwrap_or(0)
            },
            comment: h.comment.clone(),
        })
        .collect();
    entries.reverse();
    match entries.first_mut() {
        Some(top) => top.id = image.id().to_string(),
        None => entries.push(Entry {
            id: image.id().to_string(),
            created: image.created(),
            created_by: String::new(),
            size: sizes.iter().sum(),
            comment: String::new(),
        }),
    }
    print(&entries, args);
    Ok(0)
}

fn print(entries: &[Entry], args: &HistoryArgs) {
    let now = now();
    let id = |e: &Entry| match e.id.as_str() {
        "<missing>" => e.id.clone(),
        full => short_id(full, args.no_trunc),
    };
    let created = |e: &Entry| match (e.created, args.human) {
        (None, _) => "N/A".to_string(),
        (Some(c), true) => ago(c, now),
        (Some(c), false) => crate::export::rfc3339(c),
    };
    let size = |e: &Entry| match args.human {
        true => human_size(e.size),
        false => e.size.to_string(),
    };
    let created_by = |e: &Entry| {
        let text = e.created_by.replace('\t', " ");
        match args.no_trunc || text.chars().count() <= 45 {
            true => text,
            false => text.chars().take(44).chain(['…']).collect(),
        }
    };
    if args.quiet {
        entries.iter().for_each(|e| println!("{}", id(e)));
        return;
    }
    if args.format == Format::Json {
        for e in entries {
            let line = json!({
                "Comment": e.comment,
                "CreatedAt": e.created.map_or(String::new(), crate::export::rfc3339),
                "CreatedBy": created_by(e),
                "CreatedSince": created(e),
                "ID": id(e),
                "Size": size(e),
            });
            println!("{line}");
        }
        return;
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| vec![id(e), created(e), created_by(e), size(e), e.comment.clone()])
        .collect();
    print_table(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &rows,
    );
}
