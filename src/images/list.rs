//! `kiln images`: one row per tag (and per dangling image), newest first,
//! like `docker images`.

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use kiln_frontend::reference::Reference;
use serde_json::json;

use super::units::{ago, go_time, human_size, now};
use super::{open_store, print_table, short_id, Catalog};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    /// One JSON object per line, with docker's field names.
    Json,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only images of this repository (`app`) or tag (`app:1`).
    pub repository: Option<String>,
    /// Show all images (kiln keeps no intermediate images: same as without).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Filter: `dangling=true|false`, `reference=PATTERN` (`*` wildcards).
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// One row of the listing.
struct Row {
    repository: String,
    tag: String,
    digest: String,
    id: String,
    created: Option<i64>,
    size: u64,
}

pub fn run(args: &ImagesArgs) -> Result<i32> {
    let filter = Filter::parse(args)?;
    let store = open_store()?;
    let catalog = Catalog::load(&store, true)?;
    let mut rows = Vec::new();
    for image in &catalog.images {
        let size = image.size(&store);
        let row = |repository: String, tag: String| Row {
            repository,
            tag,
            digest: image.target.to_string(),
            id: image.id().to_string(),
            created: image.created(),
            size,
        };
        let refs = image.references();
        if refs.is_empty() {
            if filter.keeps(None) {
                rows.push(row("<none>".into(), "<none>".into()));
            }
            continue;
        }
        for r in refs.iter().filter(|r| filter.keeps(Some(r))) {
            let mut bare = r.clone();
            bare.tag = None;
            rows.push(row(bare.familiar(), r.tag.clone().unwrap_or_default()));
        }
    }
    rows.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)))
    });
    print_rows(&rows, args);
    Ok(0)
}

fn print_rows(rows: &[Row], args: &ImagesArgs) {
    let now = now();
    let created = |r: &Row| r.created.map_or("N/A".into(), |c| ago(c, now));
    if args.quiet {
        for r in rows {
            println!("{}", short_id(&r.id, args.no_trunc));
        }
        return;
    }
    if args.format == Format::Json {
        for r in rows {
            let line = json!({
                "Containers": "N/A",
                "CreatedAt": r.created.map_or(String::new(), go_time),
                "CreatedSince": created(r),
                "Digest": r.digest,
                "ID": short_id(&r.id, args.no_trunc),
                "Repository": r.repository,
                "SharedSize": "N/A",
                "Size": human_size(r.size),
                "Tag": r.tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(r.size),
            });
            println!("{line}");
        }
        return;
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.repository.clone(), r.tag.clone()];
            if args.digests {
                cells.push(r.digest.clone());
            }
            cells.extend([
                short_id(&r.id, args.no_trunc),
                created(r),
                human_size(r.size),
            ]);
            cells
        })
        .collect();
    print_table(&header, &table);
}

/// The repository argument and `--filter`s.
struct Filter {
    repository: Option<Reference>,
    dangling: Option<bool>,
    patterns: Vec<String>,
}

impl Filter {
    fn parse(args: &ImagesArgs) -> Result<Filter> {
        let repository = match &args.repository {
            Some(r) => Some(
                Reference::parse_named(r).map_err(|e| anyhow::anyhow!("{r:?}: {}", e.message))?,
            ),
            None => None,
        };
        let mut filter = Filter {
            repository,
            dangling: None,
            patterns: Vec::new(),
        };
        for f in &args.filters {
            match f.split_once('=') {
                Some(("dangling", v)) => match v {
                    "true" | "1" => filter.dangling = Some(true),
                    "false" | "0" => filter.dangling = Some(false),
                    _ => bail!("invalid filter 'dangling={v}': expected true or false"),
                },
                Some(("reference", pattern)) => filter.patterns.push(pattern.to_string()),
                _ => bail!(
                    "invalid filter '{f}' (supported: dangling=true|false, reference=PATTERN)"
                ),
            }
        }
        Ok(filter)
    }

    /// Whether a row for `tag` (`None`: dangling) is shown.
    fn keeps(&self, tag: Option<&Reference>) -> bool {
        if self.dangling.is_some_and(|d| d != tag.is_none()) {
            return false;
        }
        let Some(tag) = tag else {
            return self.repository.is_none() && self.patterns.is_empty();
        };
        if let Some(want) = &self.repository {
            if want.repository() != tag.repository()
                || want
                    .tag
                    .as_ref()
                    .is_some_and(|t| Some(t) != tag.tag.as_ref())
            {
                return false;
            }
        }
        let name = tag.familiar();
        let repo = name.rsplit_once(':').map_or(name.as_str(), |(r, _)| r);
        self.patterns.is_empty()
            || self
                .patterns
                .iter()
                .any(|p| glob(p, &name) || glob(p, repo))
    }
}

/// `*` matches any run of characters except `/`; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .take_while(|&i| !rest[..i].contains('/'))
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reference_globs() {
        assert!(super::glob("app*", "app:1"));
        assert!(super::glob("*:1", "app:1"));
        assert!(!super::glob("app*", "app/x:1"));
        assert!(super::glob("a*/x*", "app/x:1"));
    }
}
