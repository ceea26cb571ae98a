//! `kiln pull`, `kiln push`, `kiln login`, `kiln logout`.

use std::io::Read;

use anyhow::{anyhow, bail, Context as _, Result};
use kiln_frontend::definition::Platform;
use kiln_solver::store::Store;

use super::args::{LoginArgs, LogoutArgs, PullArgs, PushArgs};
use super::credentials::{self, Credential};
use super::{parse_reference, pull, push, Registry};

fn open_store() -> Result<Store> {
    let root = kiln_solver::store::default_root()?;
    Store::open(&root).with_context(|| format!("opening the store at {}", root.display()))
}

pub fn pull(args: &PullArgs) -> Result<i32> {
    let reference = parse_reference(&args.name)?;
    let platform = match &args.platform {
        Some(p) => Platform::parse(p).map_err(|e| anyhow!("--platform: {e}"))?,
        None => Platform::host(),
    };
    let store = open_store()?;
    let registry = Registry::connect(&reference.domain, &args.registry.insecure)?;
    if !args.quiet {
        eprintln!("pulling {reference}");
    }
    let digest = pull::pull(&store, &registry, &reference, &platform, !args.quiet)?;
    if args.quiet {
        println!("{digest}");
    } else {
        eprintln!("Digest: {digest}");
        println!("{reference}");
    }
    store.flush().ok();
    Ok(0)
}

pub fn push(args: &PushArgs) -> Result<i32> {
    let reference = parse_reference(&args.name)?;
    if reference.digest.is_some() {
        bail!("cannot push a digest reference ({}): push a tag", args.name);
    }
    let store = open_store()?;
    let name = reference.to_string();
    let manifest = store
        .meta()
        .tag_get(&name)?
        .ok_or_else(|| anyhow!("{}: no such image in the local store", reference.familiar()))?
        .digest;
    let registry = Registry::connect(&reference.domain, &args.registry.insecure)?;
    if !args.quiet {
        eprintln!("pushing {name}");
    }
    let pushed = push::push(&store, &registry, &reference, &manifest, !args.quiet)?;
    if args.quiet {
        println!("{}", pushed.digest);
    } else {
        println!(
            "{}: digest: {} size: {}",
            reference.tag.as_deref().unwrap_or("latest"),
            pushed.digest,
            pushed.size
        );
    }
    store.flush().ok();
    Ok(0)
}

/// The host `kiln login/logout [SERVER]` is about (`docker.io` by default;
/// URLs are accepted as docker does).
fn server_host(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

pub fn login(args: &LoginArgs) -> Result<i32> {
    let host = server_host(args.server.as_deref());
    let username = match &args.username {
        Some(u) => u.clone(),
        None => bail!("kiln login needs a username (-u/--username)"),
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the password from stdin")?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => bail!("kiln login needs a password (--password-stdin)"),
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let credential = Credential {
        username,
        secret: password,
    };
    let registry =
        Registry::with_credential(&host, &args.registry.insecure, Some(credential.clone()))?;
    registry
        .login_check()
        .with_context(|| format!("login to {host} failed"))?;
    credentials::store(&host, &credential)?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(args: &LogoutArgs) -> Result<i32> {
    let host = server_host(args.server.as_deref());
    if credentials::erase(&host)? {
        println!("Removing login credentials for {host}");
    } else {
        println!("Not logged in to {host}");
    }
    Ok(0)
}
